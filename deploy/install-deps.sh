#!/usr/bin/env bash
# Installs the Debian packages inlet needs. Usage: deploy/install-deps.sh [build] [runtime] [test] [image]
# With no argument it installs build, runtime and test (image is for deploy/build-image.sh). Skips
# apt entirely when everything is present.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lists=("$@")
[ ${#lists[@]} -gt 0 ] || lists=(build runtime test)
pkgs=()
for l in "${lists[@]}"; do
  while read -r p; do pkgs+=("$p"); done < <(grep -v '^\s*#' "$here/packages-$l.txt" | grep -v '^\s*$')
done
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
