#!/usr/bin/env bash
# Builds what the README's first command builds (`cargo build --release`)
# with only the system packages a new machine of the project's kind ships.
#
# Why: a build that quietly needs an extra -dev package (librdkafka once
# needed libcurl's headers) passes on every machine where CI or a developer
# installed it once, and fails for the next new user. Here every -dev
# package installed on this machine that a new machine lacks
# (scripts/new-machine-dev-packages.txt) is hidden for the duration of the
# build, in a private mount namespace: its headers, pkg-config files and
# link libraries. Nothing outside this one build sees a change.
#
# Usage: scripts/fresh-build-check.sh [extra cargo build args]
# FRESH_BUILD_CHECK_LIST=1 lists the hidden paths and builds nothing.
# Needs util-linux's unshare; as root it uses a mount namespace, otherwise
# a user namespace mapped to root (where the kernel allows it).
set -euo pipefail
cd "$(dirname "$0")/.."

baseline=scripts/new-machine-dev-packages.txt

if [[ "${1:-}" != "--inside" ]]; then
  extra=()
  while read -r pkg; do
    grep -qx "$pkg" "$baseline" || extra+=("$pkg")
  done < <(dpkg-query -W -f='${Status} ${Package}\n' '*-dev' 2>/dev/null |
    awk '$1 == "install" && $3 == "installed" { print $4 }')
  echo "fresh-build-check: hiding ${#extra[@]} -dev package(s) a new machine lacks: ${extra[*]:-none}"
  ns=(unshare --mount)
  [[ "$(id -u)" == 0 ]] || ns=(unshare --map-root-user --mount)
  exec "${ns[@]}" "$0" --inside "${extra[@]}" -- "$@"
fi
shift
hidden=()
while [[ $# -gt 0 && "$1" != "--" ]]; do
  hidden+=("$1")
  shift
done
[[ "${1:-}" == "--" ]] && shift

# Mount changes stay in this namespace; make sure none propagates back.
mount --make-rprivate /

mask() {
  local path=$1
  if [[ -d "$path" ]]; then
    mount -t tmpfs -o ro,size=4k none "$path"
  else
    # A file in a directory other packages share: make it an empty file, so
    # an include or a link against it fails loudly.
    mount --bind /dev/null "$path"
  fi
}

owned=$(mktemp)
listing=$(mktemp)
trap 'rm -f "$owned" "$listing"' EXIT
masked=0
for pkg in "${hidden[@]}"; do
  dpkg -L "$pkg" 2>/dev/null | grep -E '^/usr/(include|lib|share/pkgconfig)/' |
    grep -vE '^/usr/lib/[^/]+/?$|^/usr/(include|lib|share/pkgconfig)/?$' >"$owned" || true
  # Whole directories this package alone fills (every entry under it is
  # the package's) are hidden at once; anything else file by file.
  while read -r path; do
    [[ -e "$path" || -L "$path" ]] || continue
    if [[ -d "$path" && ! -L "$path" ]]; then
      # (find's output goes to a file first: with pipefail, `grep -q`
      # closing the pipe early would fail the test and hide a shared dir.)
      find "$path" -mindepth 1 \( -type f -o -type l \) >"$listing"
      if grep -vxF -f "$owned" "$listing" >/dev/null; then
        continue
      fi
      parent_hidden=false
      while read -r done_dir; do
        [[ "$path" == "$done_dir"/* ]] && parent_hidden=true
      done < <(findmnt -rn -t tmpfs -o TARGET)
      $parent_hidden || { mask "$path"; masked=$((masked + 1)); }
    elif [[ -L "$path" ]]; then
      # A development symlink (libfoo.so -> libfoo.so.N) cannot be hidden
      # without hiding its target, a runtime library a new machine has too;
      # the package's headers are hidden, so a build that needs it fails.
      continue
    elif [[ -f "$path" ]]; then
      dir_hidden=false
      while read -r done_dir; do
        [[ "$path" == "$done_dir"/* ]] && dir_hidden=true
      done < <(findmnt -rn -t tmpfs -o TARGET)
      $dir_hidden || { mask "$path"; masked=$((masked + 1)); }
    fi
  done <"$owned"
done
echo "fresh-build-check: ${masked} path(s) hidden; building"
[[ -n "${FRESH_BUILD_CHECK_LIST:-}" ]] && { findmnt -rn -o TARGET,SOURCE | grep -E "/usr/(include|lib|share)"; exit 0; }
cargo build --release --locked "$@"
echo "fresh-build-check: the release binary builds with only a new machine's packages"
