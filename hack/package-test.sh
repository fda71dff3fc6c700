#!/usr/bin/env bash
# The Debian package end to end (needs root): builds it with hack/package.sh,
# checks its control data, md5sums and contents, installs it on this machine
# with dpkg -i, then uses what it installed: `man tong-exec` (and a page for
# every subcommand `tong --help` lists), bash completion of `tong ex<TAB>`,
# zsh and fish completion files (zsh and fish from Debian's packages unpacked
# in a temp dir with apt-get download, never installed), `tong --version`,
# `tong features` and the demo bundle run by /usr/sbin/tong; then dpkg --purge
# and a check that every file and every directory it brought is gone.
#
# It leaves the machine as it found it: it skips when a tong package is
# installed, or when any file of the package already exists (a hand-installed
# /usr/sbin/tong would be overwritten, then removed), and an exit trap purges
# the package it installed. Other tests do not look for `tong` on PATH: they
# run target/ builds or $RUNTIME.
# Prints PASS/FAIL/SKIP per check and "N passed, M failed, K skipped".
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=hack/e2e-common.sh
source hack/e2e-common.sh

if [ "$(id -u)" != 0 ]; then
  skip "package" "needs root (dpkg -i)"; summary; exit
fi
status=$(dpkg-query -W -f='${db:Status-Abbrev}' tong 2>/dev/null || true)
if [ -n "$status" ] && [ "${status:1:1}" != n ]; then
  skip "package" "a tong package is on this machine (dpkg status '$status'): the test would replace it"
  summary; exit
fi

work=$(mktemp -d /tmp/tong-package.XXXXXX)
chmod 0755 "$work" # apt-get download writes as _apt
installed=""
cleanup() {
  if [ -n "$installed" ] && dpkg-query -W tong >/dev/null 2>&1; then
    dpkg --purge tong >/dev/null 2>&1 || echo "package-test: dpkg --purge tong failed: remove it by hand" >&2
  fi
  if [ -x /usr/sbin/tong ] && [ -d "$work/state" ]; then
    for id in $(/usr/sbin/tong --root "$work/state" list -q 2>/dev/null); do
      /usr/sbin/tong --root "$work/state" delete --force "$id" >/dev/null 2>&1 || true
    done
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM # through the EXIT trap

echo "== build"
if ! deb=$(bash hack/package.sh "$work/out"); then
  echo "FAIL package builds: hack/package.sh failed"; fail=$((fail + 1)); summary; exit
fi
echo "PASS package builds: $(basename "$deb"), $(stat -c %s "$deb") bytes"; pass=$((pass + 1))

# The package's paths, absolute, directories with a trailing slash stripped.
dpkg-deb -c "$deb" | awk '{ print $NF }' | sed -e 's|^\./|/|' -e 's|/$||' | grep -v '^$' > "$work/paths"
dpkg-deb -e "$deb" "$work/control"
dpkg-deb -x "$deb" "$work/x"

echo "== package contents"
field() { dpkg-deb -f "$deb" "$1"; }
check "Package: tong, Architecture: $(dpkg --print-architecture)" \
  test "$(field Package) $(field Architecture)" = "tong $(dpkg --print-architecture)"
upstream=$(cargo pkgid --locked -p tong | sed 's/.*[#@]//')
head=$(git rev-parse --short=7 HEAD)
check "Version is Cargo.toml's + git<date>.<commit> ($(field Version))" \
  bash -c '[[ $1 =~ ^$2\+git[0-9]{8}\.$3(\.dirty)?$ ]]' _ "$(field Version)" "${upstream//./\\.}" "$head"
check "static binary: no program interpreter, no Depends, Built-Using names glibc and libseccomp" bash -c '
  ! readelf -l "$1/x/usr/sbin/tong" | grep -q "program interpreter" &&
  [ -z "$(dpkg-deb -f "$2" Depends)" ] &&
  dpkg-deb -f "$2" Built-Using | grep -q "glibc (= .*libseccomp (= "' _ "$work" "$deb"
check "md5sums cover every file and match" bash -c '
  cd "$1/x" && md5sum --quiet -c "$1/control/md5sums" &&
  diff <(find usr -type f | LC_ALL=C sort) <(awk "{print \$2}" "$1/control/md5sums" | LC_ALL=C sort)' _ "$work"
expect=(/usr/sbin/tong /usr/share/man/man8/tong.8.gz /usr/share/man/man8/tong-exec.8.gz
  /usr/share/bash-completion/completions/tong /usr/share/zsh/vendor-completions/_tong
  /usr/share/fish/vendor_completions.d/tong.fish /usr/share/doc/tong/copyright
  /usr/share/doc/tong/changelog.Debian.gz /usr/share/doc/tong/changelog.gz
  /usr/share/doc/tong/migrating-from-runc.md.gz /usr/share/lintian/overrides/tong)
for f in docs/examples/*; do expect+=("/usr/share/doc/tong/examples/$(basename "$f")"); done
check "the expected files are in it (${#expect[@]})" bash -c '
  for f in "${@:2}"; do grep -qx -- "$f" "$1" || { echo "missing $f"; exit 1; }; done' _ "$work/paths" "${expect[@]}"
check "copyright is DEP-5 with Apache-2.0" bash -c '
  head -1 "$1" | grep -qx "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/" &&
  grep -qx "License: Apache-2.0" "$1" && grep -q "/usr/share/common-licenses/Apache-2.0" "$1"' \
  _ "$work/x/usr/share/doc/tong/copyright"
check "changelog.Debian.gz names the version" bash -c '
  zcat "$1" | head -1 | grep -qF "tong ($2) unstable"' _ "$work/x/usr/share/doc/tong/changelog.Debian.gz" "$(field Version)"
# The examples are README.md's snippets: each file, less its leading comment
# lines, is one of README's fenced blocks (dedented) or a part of one.
check "examples are docs/examples and README.md's snippets; TOML and JSON parse" python3 - "$work/x/usr/share/doc/tong/examples" <<'PY'
import json, os, re, sys, textwrap, tomllib
pkg = sys.argv[1]
readme = open("README.md").read()
blocks = [textwrap.dedent(b) for b in re.findall(r"^[ ]*```[a-z]*\n(.*?)^[ ]*```", readme, re.S | re.M)]
for name in sorted(os.listdir("docs/examples")):
    text = open(os.path.join("docs/examples", name)).read()
    if open(os.path.join(pkg, name)).read() != text:
        sys.exit(f"{name}: the package's copy differs from docs/examples")
    lines = text.splitlines(keepends=True)
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    body = "".join(lines)
    if not any(body in b for b in blocks):
        sys.exit(f"{name}: not among README.md's snippets")
    if name.endswith((".toml", ".conf")):
        tomllib.loads(text)
    if name.endswith(".json"):
        json.loads(text)
PY
if command -v lintian >/dev/null; then
  check "lintian: no errors or warnings" bash -c '! lintian --tag-display-limit 0 "$1" 2>&1 | grep "^[EW]:"' _ "$deb"
else
  skip "lintian" "not installed (it brings ~140 packages, mostly perl modules: not installed for this test)"
fi

# Nothing of the package may be here already; the directories that are here
# stay after the purge, the others must go.
while read -r p; do
  if [ -e "$p" ] && [ ! -d "$p" ]; then
    skip "install" "$p exists already (not from a tong package): installing would overwrite it"
    summary; exit
  fi
done < "$work/paths"
while read -r p; do [ -d "$p" ] && echo "$p"; done < "$work/paths" > "$work/dirs-before" || true

echo "== install"
installed=1
check "dpkg -i" dpkg -i "$deb"
check "dpkg -L lists the package's files" bash -c '
  diff <(dpkg -L tong | grep -vx "/\\." | LC_ALL=C sort -u) <(grep -vx "" "$1" | LC_ALL=C sort -u)' _ "$work/paths"
tong=/usr/sbin/tong
"$tong" --version | sed 's/^/  /'
check "tong --version: version, commit, spec, libseccomp" bash -c '
  v=$("$1" --version) &&
  [ "$(sed -n 1p <<<"$v")" = "tong version $2" ] &&
  [ "$(sed -n 2p <<<"$v")" = "commit: $(git rev-parse HEAD)" ] &&
  [[ $(sed -n 3p <<<"$v") =~ ^spec:\ 1\.[0-9]+\.[0-9]+$ ]] &&
  [[ $(sed -n 4p <<<"$v") =~ ^libseccomp:\ [0-9]+\.[0-9]+\.[0-9]+$ ]]' _ "$tong" "$upstream"
check "tong features: the features JSON" bash -c '
  "$1" features | python3 -c "import json,sys; f=json.load(sys.stdin); assert f[\"ociVersionMax\"].startswith(\"1.\"), f; assert f[\"linux\"][\"seccomp\"][\"enabled\"]"' _ "$tong"

# man: man-db (and its col) as a fresh machine may lack them.
if grep -rqs 'path-exclude.*/usr/share/man' /etc/dpkg/dpkg.cfg.d/; then
  skip "man pages" "dpkg is configured to leave out /usr/share/man (path-exclude in /etc/dpkg/dpkg.cfg.d)"
else
  if ! command -v man >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq man-db >/dev/null
  fi
  MANWIDTH=80 MANPAGER=cat man tong-exec 2>&1 | sed -n '1,5s/^/  /p' || true
  check "man tong-exec renders" bash -c '
    out=$(MANWIDTH=80 MANPAGER=cat man tong-exec 2>&1) &&
    grep -q "tong-exec - Run a process in a running container" <<<"$out" &&
    grep -q -- "--pid-file" <<<"$out" && grep -q "GLOBAL OPTIONS" <<<"$out"'
  subs=$("$tong" --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF && $1 != "help" { print $1 }')
  check "man -w: tong(8) and a page for each of the $(wc -w <<<"$subs") subcommands of tong --help" bash -c '
    [ "$(man -w tong)" = /usr/share/man/man8/tong.8.gz ] || exit 1
    for s in $1; do [ "$(man -w "tong-$s")" = "/usr/share/man/man8/tong-$s.8.gz" ] || { echo "no page for $s"; exit 1; }; done' _ "$subs"
fi

complete_bash() { # the words of a command line; prints COMPREPLY
  bash -c 'source /usr/share/bash-completion/completions/tong
    complete -p tong >/dev/null || exit 1
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
    _tong tong "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    printf "%s\n" "${COMPREPLY[@]}"' _ "$@"
}
check "bash completion: tong ex<TAB> gives exec" bash -c "$(declare -f complete_bash)"'; complete_bash tong ex | grep -qx exec'
check "bash completion: tong exec --pid<TAB> gives --pid-file" bash -c "$(declare -f complete_bash)"'; complete_bash tong exec --pid | grep -qx -- --pid-file'

# zsh and fish: Debian's packages unpacked here, not installed.
shells=$work/shells
mkdir -p "$shells"
fetch() { (cd "$shells" && apt-get download -q -o APT::Sandbox::User=root "$@" >/dev/null 2>&1); }
if fetch zsh fish fish-common libpcre2-32-0 || { apt-get update -qq && fetch zsh fish fish-common libpcre2-32-0; }; then
  for d in "$shells"/*.deb; do dpkg-deb -x "$d" "$shells/root"; done
  check "zsh -n _tong (zsh from Debian, unpacked)" "$shells/root/bin/zsh" -f -n /usr/share/zsh/vendor-completions/_tong
  fish() {
    LD_LIBRARY_PATH="$shells/root/usr/lib/$(gcc -print-multiarch)" HOME="$work" XDG_CONFIG_HOME="$work/fc" \
      XDG_DATA_HOME="$work/fd" "$shells/root/usr/bin/fish" --no-config "$@"
  }
  check "fish --no-execute tong.fish" fish --no-execute /usr/share/fish/vendor_completions.d/tong.fish
  check "fish completion: tong ex<TAB> gives exec" bash -c "$(declare -f fish); shells=$shells work=$work"'
    fish -c "source /usr/share/fish/vendor_completions.d/tong.fish; complete -C \"tong ex\"" | cut -f1 | grep -qx exec'
else
  skip "zsh and fish completions" "apt-get download of zsh and fish failed"
fi

echo "== the demo bundle, run by the installed tong"
check "hack/mkbundle.sh with /usr/sbin/tong" bash hack/mkbundle.sh "$work/bundle" "$tong"
# A cgroup of the test's own, which delete removes (the default, /tong/<id>,
# leaves its /tong parent behind, as runc's parents stay).
[ ! -f "$work/bundle/config.json" ] || python3 - "$work/bundle/config.json" "/tong-package-test-$$" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["linux"]["cgroupsPath"] = sys.argv[2]
json.dump(c, open(sys.argv[1], "w"), indent=2)
PY
check "tong run: the demo container says hello as root" bash -c '
  cd "$1/bundle" && "$2" --root "$1/state" run "pkgtest-$$" > "$1/demo.out" &&
  grep -q "^hello from " "$1/demo.out" && grep -q "^uid=0(root)" "$1/demo.out" &&
  [ -z "$("$2" --root "$1/state" list -q)" ]' _ "$work" "$tong"
check "its cgroup is gone after the run" bash -c '! ls -d /sys/fs/cgroup/*/tong-package-test-'$$' 2>/dev/null | grep -q .'
sed 's/^/  /' "$work/demo.out" 2>/dev/null || true

echo "== remove"
check "dpkg --purge tong" dpkg --purge tong
check "dpkg knows no tong package" bash -c '! dpkg-query -W tong 2>/dev/null'
check "every file of the package is gone, and every directory it made" bash -c '
  while read -r p; do
    if [ -d "$p" ]; then grep -qx -- "$p" "$2" || { echo "left: $p/"; exit 1; }
    elif [ -e "$p" ] || [ -L "$p" ]; then echo "left: $p"; exit 1; fi
  done < "$1"' _ "$work/paths" "$work/dirs-before"
check "no /usr/sbin/tong, no man page" bash -c '! [ -e /usr/sbin/tong ] && ! man -w tong-exec 2>/dev/null'
summary
