#!/usr/bin/env bash
# Builds the inlet image from deploy/Dockerfile, from the repository root.
#
#   deploy/build-image.sh [--tag NAME] [--base-from-debootstrap] [--engine docker|buildah]
#
# With a Docker engine that answers, runs `docker build`. Without one, runs buildah (no daemon,
# chroot isolation, vfs storage, so it works inside containers and VMs).
# --base-from-debootstrap makes debian:bookworm-slim locally first, from Debian's packages, with
# the mirror this machine's apt sources name, for machines that reach no container registry.
# Prints the image's size and its packages against deploy/packages-runtime.txt.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
tag="localhost/inlet:$(sed -n 's/^project(inlet VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")"
base_from_debootstrap=0
engine=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag=$2; shift 2 ;;
    --base-from-debootstrap) base_from_debootstrap=1; shift ;;
    --engine) engine=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-image: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$engine" ]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then engine=docker; else engine=buildah; fi
fi
commit=$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
# buildah and podman share containers-storage; vfs works where overlay mounts are not allowed.
buildah=(buildah --storage-driver vfs)
podman=(podman --storage-driver vfs)
started=$(date +%s)
step() { echo "== [$(( $(date +%s) - started ))s] build-image: $*"; }

# The first deb822 `URIs:` or one-line `deb` URL of the machine's apt sources.
apt_mirror() {
  local files=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources)
  local url
  url=$(grep -hE '^\s*URIs:' "${files[@]}" 2>/dev/null | grep -v security | awk '{print $2}' | head -1 || true)
  [ -n "$url" ] || url=$(grep -hE '^\s*deb\s' "${files[@]}" 2>/dev/null | grep -v security |
                          sed -E 's/^\s*deb\s+(\[[^]]*\]\s+)?//' | awk '{print $1}' | head -1 || true)
  [ -n "$url" ] || { echo "build-image: no Debian mirror in /etc/apt/sources*" >&2; return 1; }
  echo "$url"
}

if [ "$base_from_debootstrap" = 1 ]; then
  if "${buildah[@]}" images --format '{{.Name}}:{{.Tag}}' 2>/dev/null | grep -qx 'docker.io/library/debian:bookworm-slim'; then
    step "debian:bookworm-slim is already in local storage"
  else
    mirror=$(apt_mirror)
    rootfs=$(mktemp -d /tmp/inlet-base-XXXXXX)
    chmod 0755 "$rootfs"  # it becomes the image's /: mktemp made it 0700
    trap 'rm -rf "$rootfs" "$rootfs.log"' EXIT
    step "debootstrap --variant=minbase bookworm from $mirror"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" > "$rootfs.log" 2>&1 ||
      { tail -20 "$rootfs.log" >&2; exit 1; }
    # As Debian's own slim images: no apt caches, manuals, docs or translations (licences stay),
    # and dpkg told to leave them out of what the Dockerfile installs later.
    rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/man/* \
      "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
    find "$rootfs"/usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete
    printf '%s\n' 'path-exclude=/usr/share/doc/*' 'path-include=/usr/share/doc/*/copyright' \
      'path-exclude=/usr/share/man/*' 'path-exclude=/usr/share/info/*' 'path-exclude=/usr/share/locale/*' \
      > "$rootfs"/etc/dpkg/dpkg.cfg.d/slim-excludes
    step "importing it as debian:bookworm-slim"
    tar -C "$rootfs" -c . | "${podman[@]}" import - docker.io/library/debian:bookworm-slim > /dev/null
  fi
fi

build_args=(--build-arg INLET_COMMIT="$commit")

step "building $tag with $engine (commit $commit)"
if [ "$engine" = docker ]; then
  DOCKER_BUILDKIT=1 docker build -f "$root/deploy/Dockerfile" "${build_args[@]}" -t "$tag" "$root"
  size=$(docker image inspect --format '{{.Size}}' "$tag")
  packages=$(docker run --rm --entrypoint dpkg-query "$tag" -W -f '${Package}\n')
else
  pull=()
  [ "$base_from_debootstrap" = 1 ] && pull=(--pull-never)
  "${buildah[@]}" bud --isolation chroot "${pull[@]}" --ignorefile "$root/deploy/Dockerfile.dockerignore" \
    "${build_args[@]}" -f "$root/deploy/Dockerfile" -t "$tag" "$root"
  size=$("${podman[@]}" image inspect --format '{{.Size}}' "$tag")
  container=$("${buildah[@]}" from --pull=never "$tag")
  packages=$("${buildah[@]}" run --isolation chroot "$container" -- dpkg-query -W -f '${Package}\n')
  "${buildah[@]}" rm "$container" > /dev/null
fi

listed=$(grep -v '^\s*#' "$root/deploy/packages-runtime.txt" | grep -v '^\s*$')
missing=$(comm -23 <(echo "$listed" | sort -u) <(echo "$packages" | sed 's/:.*//' | sort -u))
step "done: $tag, $(( size / 1024 / 1024 )) MiB, $(echo "$packages" | wc -l) packages"
echo "   deploy/packages-runtime.txt: $(echo "$listed" | wc -l) listed, all installed${missing:+ EXCEPT: $missing}"
for tool in gcc g++ cmake make; do
  if echo "$packages" | grep -qx "$tool\(-12\)\?"; then echo "   WARNING: the runtime image carries $tool" >&2; fi
done
[ -z "$missing" ]
