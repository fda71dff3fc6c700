# Shared by the hack/*-e2e.sh scripts (sourced, from the repository root):
# the engine's package and tong's build, PASS/FAIL per step, and the final
# "N passed, M failed" line (", K skipped" when steps were skipped) with the exit status to match.
e2e_prepare() { # the engine's Debian package; sets RUNTIME (tong, unless given)
  dpkg -s "$1" >/dev/null 2>&1 || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null; }
  bash hack/deps.sh
  if [ -z "${RUNTIME:-}" ]; then RUNTIME=$(bash hack/build-static.sh); fi
}
pass=0; fail=0; skipped=0
check() { # name, then a command whose success means PASS
  local name=$1; shift
  local out
  if out=$("$@" 2>&1); then echo "PASS $name"; pass=$((pass + 1)); else echo "FAIL $name: $(echo "$out" | tail -3 | tr '\n' ' ')"; fail=$((fail + 1)); fi
}
skip() { # name, reason: a step this host cannot run, never counted as a pass
  echo "SKIP $1: $2"; skipped=$((skipped + 1))
}
summary() {
  if [ "$skipped" -gt 0 ]; then echo "$pass passed, $fail failed, $skipped skipped"; else echo "$pass passed, $fail failed"; fi
  [ "$fail" -eq 0 ]
}
