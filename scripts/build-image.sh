#!/usr/bin/env bash
# Builds the agentd container image without pulling a base image: a Debian 12 (bookworm) minbase
# root filesystem made with debootstrap, the runtime packages agentd needs, user 1001, the release
# agentd binary; tarred reproducibly and turned into an image by deploy/image/Containerfile
# (FROM scratch) with `podman build --runtime runc`.
#
#   scripts/build-image.sh [--tag VERSION]
#
# Produces localhost/agentd:VERSION (VERSION defaults to the project version in CMakeLists.txt),
# build/image/agentd-VERSION.oci.tar (`podman save --format oci-archive`), and prints the image
# digest and size. Idempotent: the root filesystem in build/image/rootfs is reused while the
# package list, suite and mirror are unchanged (build/image/rootfs.stamp); delete the directory to
# force a fresh one. Needs root (debootstrap, chroot); installs podman, runc, debootstrap and
# skopeo with apt when missing. Not part of scripts/test.sh (CI has no podman).
#
# Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian), SOURCE_DATE_EPOCH (mtime of
# every file in the tarball and the image's creation time; default 0), AGENTD_IMAGE_SOURCE (the
# org.opencontainers.image.source label), JOBS (compile jobs; default 1), SKIP_BUILD=1 (use the
# existing build/release/cmd/agentd/agentd).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

version=""
while (($# > 0)); do
  case "$1" in
    --tag) version="${2:?--tag needs a value}"; shift 2 ;;
    --tag=*) version="${1#--tag=}"; shift ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-image: unknown argument $1 (usage: $0 [--tag VERSION])" >&2; exit 2 ;;
  esac
done
if [[ -z "$version" ]]; then
  version="$(sed -n 's/^project(agentd VERSION \([0-9][0-9.]*\).*/\1/p' CMakeLists.txt)"
  [[ -n "$version" ]] || { echo "build-image: no project version in CMakeLists.txt" >&2; exit 1; }
fi
if [[ ! "$version" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]]; then
  echo "build-image: --tag '$version' is not a valid image tag" >&2
  exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "build-image: needs root (debootstrap and chroot); run it with sudo" >&2
  exit 1
fi

suite=bookworm
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
epoch="${SOURCE_DATE_EPOCH:-0}"
out="$root/build/image"
rootfs="$out/rootfs"
image="localhost/agentd:$version"

# The runtime packages. The first group is what the release binary links against directly
# (`readelf -d agentd | grep NEEDED`, each library mapped to its package with `dpkg -S` on the
# host); their own dependencies (libcurl's TLS, HTTP/2, Kerberos, ...) come with them. The check
# below fails the build when the binary needs a library this list does not bring.
#   libc.so.6 libm.so.6 -> libc6          libgcc_s.so.1 -> libgcc-s1   libstdc++.so.6 -> libstdc++6
#   libcrypto.so.3 -> libssl3             libcurl.so.4 -> libcurl4     libsqlite3.so.0 -> libsqlite3-0
#   libyaml-cpp.so.0.7 -> libyaml-cpp0.7
# The second group is what the pods need besides agentd: CA certificates (HTTPS to model
# providers), git (workspace clones), curl, sh and coreutils (sha256sum) for the weights init
# container and the runner's shell tool, tzdata (budget periods in a time zone, TZDIR).
runtime_pkgs=(libc6 libgcc-s1 libstdc++6 libssl3 libcurl4 libsqlite3-0 libyaml-cpp0.7)
tool_pkgs=(ca-certificates git curl coreutils tzdata)
pkgs=("${runtime_pkgs[@]}" "${tool_pkgs[@]}")

log() { echo "build-image: $*"; }

# --- tools --------------------------------------------------------------------------------------
missing=()
for p in podman runc debootstrap skopeo; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} > 0)); then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- agentd (release) ---------------------------------------------------------------------------
binary="$root/build/release/cmd/agentd/agentd"
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  log "building agentd (cmake --preset release)"
  nice -n 10 cmake --preset release >/dev/null
  nice -n 10 cmake --build --preset release --target agentd -j "${JOBS:-1}"
fi
[[ -x "$binary" ]] || { echo "build-image: $binary is missing" >&2; exit 1; }

# --- root filesystem (cached) -------------------------------------------------------------------
stamp_text="suite=$suite variant=minbase mirror=$mirror packages=${pkgs[*]} layout=3"
if [[ -d "$rootfs" && -f "$out/rootfs.stamp" && "$(cat "$out/rootfs.stamp")" == "$stamp_text" ]]; then
  log "reusing $rootfs (package list unchanged)"
else
  log "debootstrap $suite --variant=minbase into $rootfs"
  rm -rf "$rootfs" "$rootfs.tmp" "$out/rootfs.stamp"
  mkdir -p "$out/debs"
  include="$(IFS=,; echo "${pkgs[*]}")"
  nice -n 10 debootstrap --variant=minbase --cache-dir="$out/debs" --include="$include" \
    "$suite" "$rootfs.tmp" "$mirror" >"$out/debootstrap.log" 2>&1 ||
    { tail -n 20 "$out/debootstrap.log" >&2; echo "build-image: debootstrap failed" >&2; exit 1; }

  # User and group 1001 (the UID every manifest runs as), home /workspace (an emptyDir in pods).
  chroot "$rootfs.tmp" groupadd --gid 1001 agentd
  chroot "$rootfs.tmp" useradd --uid 1001 --gid 1001 --home-dir /workspace --no-create-home \
    --shell /bin/sh --comment agentd agentd
  # Mount points of the pod's volumes. Only /tmp is writable by all (sticky) for runs without a
  # mounted /tmp; the pods mount emptyDirs and the PVC over these anyway.
  install -d -m 0755 -o 1001 -g 1001 "$rootfs.tmp/workspace"
  install -d -m 0700 -o 1001 -g 1001 "$rootfs.tmp/var/lib/agentd"
  install -d -m 0755 -o 0 -g 0 "$rootfs.tmp/var/run/agentd" "$rootfs.tmp/models" \
    "$rootfs.tmp/uploads"
  chmod 1777 "$rootfs.tmp/tmp"

  # Nothing the image does not need at run time, and nothing that differs from build to build
  # or host to host: apt caches and lists, docs, man pages, logs, the host's resolv.conf and
  # hostname (the runtime provides them), translations (agentd logs in English; C.UTF-8 is built
  # into glibc), the password-change date, backups.
  rm -rf "$rootfs.tmp"/var/cache/apt/* "$rootfs.tmp"/var/lib/apt/lists/* \
    "$rootfs.tmp"/var/cache/debconf/*-old "$rootfs.tmp"/var/lib/dpkg/*-old \
    "$rootfs.tmp"/usr/share/man/* "$rootfs.tmp"/usr/share/info/* "$rootfs.tmp"/usr/share/locale/* \
    "$rootfs.tmp"/usr/share/lintian "$rootfs.tmp"/usr/share/linda \
    "$rootfs.tmp"/var/log/* "$rootfs.tmp"/etc/*- "$rootfs.tmp"/etc/machine-id \
    "$rootfs.tmp"/var/lib/dbus/machine-id "$rootfs.tmp"/etc/hostname "$rootfs.tmp"/etc/resolv.conf
  # Of the docs only the copyright files stay (licence notices of the shipped packages).
  find "$rootfs.tmp/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$rootfs.tmp/usr/share/doc" -mindepth 1 -type d -empty -delete
  : >"$rootfs.tmp/etc/resolv.conf"
  : >"$rootfs.tmp/etc/hostname"
  sed -i -E 's/^([^:]*:[^:]*):[0-9]+:/\1::/' "$rootfs.tmp/etc/shadow"
  # Device nodes are the runtime's business.
  find "$rootfs.tmp/dev" -mindepth 1 -delete
  mv "$rootfs.tmp" "$rootfs"
  echo "$stamp_text" >"$out/rootfs.stamp"
fi

# --- agentd into the root filesystem ------------------------------------------------------------
# Debug info stripped (the unstripped binary stays in build/release for symbolizing crashes).
install -m 0755 -o 0 -g 0 "$binary" "$rootfs/usr/local/bin/agentd"
# The default catalog directory (AGENTD_CONFIG in the Containerfile): empty; mount the YAML
# objects over it, or use `--catalog kubernetes` as the manifests do.
install -d -m 0755 -o 0 -g 0 "$rootfs/etc/agentd"
strip --strip-debug "$rootfs/usr/local/bin/agentd"
# Every library the binary needs must resolve inside the image; and it must run there.
if chroot "$rootfs" /usr/bin/ldd /usr/local/bin/agentd 2>/dev/null | grep -q "not found"; then
  chroot "$rootfs" /usr/bin/ldd /usr/local/bin/agentd | grep "not found" >&2
  echo "build-image: add the packages of these libraries to runtime_pkgs" >&2
  exit 1
fi
chroot "$rootfs" /usr/local/bin/agentd --version >/dev/null ||
  { echo "build-image: agentd --version fails inside the root filesystem" >&2; exit 1; }

# --- reproducible tarball -----------------------------------------------------------------------
log "writing $out/rootfs.tar"
tar --create --file "$out/rootfs.tar.tmp" --directory "$rootfs" \
  --sort=name --numeric-owner --mtime="@$epoch" \
  --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  --xattrs --xattrs-include='security.capability' .
mv "$out/rootfs.tar.tmp" "$out/rootfs.tar"

# --- image --------------------------------------------------------------------------------------
log "podman build $image"
cp deploy/image/Containerfile "$out/Containerfile"
podman --runtime runc build --timestamp "$epoch" --layers=false \
  --build-arg "VERSION=$version" --build-arg "SOURCE=${AGENTD_IMAGE_SOURCE:-}" \
  --tag "$image" --file "$out/Containerfile" "$out"
archive="$out/agentd-$version.oci.tar"
rm -f "$archive"
podman save --format oci-archive --output "$archive" "$image"

id="$(podman image inspect --format '{{.Id}}' "$image")"
size="$(podman image inspect --format '{{.Size}}' "$image")"
digest="$(skopeo inspect --format '{{.Digest}}' "oci-archive:$archive")"
log "image     $image"
log "id        sha256:$id"
log "digest    $digest (manifest of $archive; pin the digest \`podman push --digestfile\` reports, docs/deploy.md)"
log "size      $size bytes ($((size / 1024 / 1024)) MiB uncompressed); archive $(stat -c %s "$archive") bytes"
