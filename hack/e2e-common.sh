# Shared by the hack/*-e2e.sh scripts (sourced): PASS/FAIL per step and the
# final "N passed, M failed" line with the exit status to match.
pass=0; fail=0
check() { # name, then a command whose success means PASS
  local name=$1; shift
  local out
  if out=$("$@" 2>&1); then echo "PASS $name"; pass=$((pass + 1)); else echo "FAIL $name: $(echo "$out" | tail -3 | tr '\n' ' ')"; fail=$((fail + 1)); fi
}
summary() {
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}
