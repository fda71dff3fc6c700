#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 30), one at a time
# (-jobs=1), on a seed corpus made here from the OCI schema's good/bad
# examples, `tong spec`'s template and the conformance suite's configs.
#   hack/fuzz.sh [SECONDS]        FUZZ_TARGETS="config cli" to pick targets,
#                                 FUZZ_SEED_ONLY=1 to only make the seeds
# The working corpus (fuzz/corpus) and crashes (fuzz/artifacts) stay in the
# tree, ignored by git. A crash fails the script; its input is printed.
# Optimised, with debug assertions and overflow checks (-O -a).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
bash hack/deps.sh
for p in jq python3; do
  command -v "$p" >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null; }
done
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
targets=(${FUZZ_TARGETS:-config mount_options seccomp cgroups state cli})

seeds=fuzz/corpus
mkdir -p "$seeds"/{config,mount_options,seccomp,cgroups,state,cli}
add() { # add TARGET < bytes: one seed file named by its hash
  local t f; t=$(mktemp); cat > "$t"
  f=$seeds/$1/seed-$(sha1sum < "$t" | cut -c1-16); mv "$t" "$f"
}
# Configs: the schema's examples, the spec template, the conformance cases'
# (captured by a stand-in runtime that saves each bundle's config and fails).
cfgs=$(mktemp -d)
trap 'rm -rf "$cfgs"' EXIT
cp /work/shared/oci-runtime-spec/schema/test/config/*/*.json "$cfgs/" 2>/dev/null || true
cp src/cli/spec_template.json "$cfgs/template.json"
if [ ! -e "$seeds/.conformance" ]; then
  cargo build --locked -q -p conformance -p tong
  cat > "$cfgs/capture" <<CAP
#!/bin/bash
b=; prev=
for a in "\$@"; do case "\$prev" in --bundle|-b) b=\$a ;; esac; prev=\$a; done
[ -n "\$b" ] && [ -f "\$b/config.json" ] && cp "\$b/config.json" "$cfgs/conf-\$(sha1sum < "\$b/config.json" | cut -c1-16).json"
exit 1
CAP
  chmod +x "$cfgs/capture"
  target/debug/conformance --runtime "$cfgs/capture" --tong target/debug/tong --run-skipped --workdir "$cfgs/work" >/dev/null 2>&1 || true
  rm -rf "$cfgs/work"
  touch "$seeds/.conformance"
fi
for c in "$cfgs"/*.json; do
  add config < "$c"
  jq -e '.linux.seccomp // empty' "$c" 2>/dev/null | add seccomp || true
  jq -e '.linux.resources // empty' "$c" 2>/dev/null | add cgroups || true
  jq -j '.mounts[]?.options // [] | join("\u0000")' "$c" 2>/dev/null | add mount_options || true
done
find "$seeds" -type f -size 0 -delete
for s in /work/shared/oci-runtime-spec/schema/test/state/*/*.json; do add state < "$s"; done
printf '%s' '{"id":"c1","pid":42,"start_time":123,"bundle":"/b","rootfs":"/b/rootfs","created":"2024-01-01T00:00:00Z","owner":"","annotations":{"a":"b"},"cgroup_dirs":["/sys/fs/cgroup/memory/c1"],"oci_version":"1.2.0","creator":{"pid":7,"start_time":9}}' | add state
for l in "create --bundle /b --pid-file /p c1" "-root=/x -no-subreaper start c1" "--log=/l --log-format json --debug kill --all c1 KILL" \
    "delete --force c1" "exec -t --console-socket /s -e A=B --cap CAP_KILL -u 1:2 --cwd / c1 sh" "update --memory 256m --pids-limit 100 -r - c1" \
    "run -d --no-pivot --no-new-keyring c1" "list -f json -q" "events --stats --interval 5s c1" "ps -f json c1 -ef" "spec --rootless" "--rootless=auto features"; do
  printf '%s' "$l" | tr ' ' '\0' | add cli
done

[ -z "${FUZZ_SEED_ONLY:-}" ] || exit 0

failed=()
cd fuzz
cargo +nightly fuzz build -O -a 2>&1 | grep -v '^\s*Compiling' || true
for t in "${targets[@]}"; do
  echo "== fuzz $t for ${secs}s"
  log=$(mktemp)
  if cargo +nightly fuzz run -O -a "$t" "corpus/$t" -- -jobs=1 -workers=1 -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 >"$log" 2>&1; then
    grep -E '^(#[0-9]+: DONE|Done [0-9]+ runs)' "$log" | tail -1 || true
    grep -E 'stat::number_of_executed_units|cov:' "$log" | tail -1 || true
  else
    failed+=("$t"); tail -40 "$log"
  fi
  rm -f "$log"
done
[ ${#failed[@]} -eq 0 ] || { echo "fuzz: crashes in ${failed[*]} (inputs under fuzz/artifacts)"; exit 1; }
echo "fuzz: ${#targets[@]} targets clean for ${secs}s each"
