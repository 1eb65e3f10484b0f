#!/bin/bash
# Builds kmon's OCI image without a container daemon: the built binary, exactly the shared
# libraries ldd says it loads (and the dynamic loader), the few files those read at run
# time (CA bundle, nsswitch.conf, hosts, passwd/group for the non-root user), a writable
# /var/lib/kmon owned by that user; no shell, no package manager. The layer is one tar
# made here (owners set in the tar, so no root is needed), added and configured with
# umoci, and the OCI layout is written as an oci-archive that `podman load`,
# `skopeo copy oci-archive:...` and `ctr images import` read.
#   scripts/image.sh [BINARY [OUT]]    defaults: build/kmon, build/kmon-image.tar
# Environment: KMON_IMAGE_SOURCE (the org.opencontainers.image.source label; default: the
# git remote "origin", none if there is none), SOURCE_DATE_EPOCH (every timestamp in the
# image; default: the time of the last commit, so the same tree gives the same image).
set -euo pipefail

cd "$(dirname "$0")/.."
bin=${1:-build/kmon}
out=${2:-build/kmon-image.tar}
uid=65532
gid=65532
home=/var/lib/kmon

die() {
    echo "image: $*" >&2
    exit 1
}

[ -x "$bin" ] || die "no kmon binary at $bin: build it first (make build)"
command -v umoci >/dev/null || die "umoci is missing: run scripts/install-deps.sh image"
command -v ldd >/dev/null || die "ldd is missing (Debian's libc-bin)"

# What the labels say: the binary's own version, the source revision it was built from.
version=$("$bin" --version | awk '{ print $2; exit }')
[ -n "$version" ] || die "$bin --version printed no version"
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [ "$revision" != unknown ] && ! git diff --quiet HEAD -- 2>/dev/null; then
    revision="$revision-dirty"
fi
source_url=${KMON_IMAGE_SOURCE:-$(git remote get-url origin 2>/dev/null || true)}
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)

work=$(mktemp -d "${TMPDIR:-/tmp}/kmon-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root"

# copy_file SRC DEST: the content of SRC (symlinks followed) at DEST inside the root.
copy_file() {
    mkdir -p "$root$(dirname "$2")"
    cp -L --preserve=mode "$1" "$root$2"
}

# The binary and what the dynamic loader maps for it: each library under the name ldd
# found it by (its soname), in its directory with merged-/usr symlinks resolved, so the
# loader's default search path finds it without an ld.so.cache.
copy_file "$bin" /usr/bin/kmon
chmod 0755 "$root/usr/bin/kmon"
libs=$(ldd "$bin") || die "ldd $bin failed"
if grep -q 'not found' <<<"$libs"; then
    die "ldd cannot find some libraries of $bin:"$'\n'"$(grep 'not found' <<<"$libs")"
fi
nlibs=0
while read -r path; do
    dir=$(readlink -f "$(dirname "$path")")
    copy_file "$path" "$dir/$(basename "$path")"
    nlibs=$((nlibs + 1))
done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$libs")
[ "$nlibs" -gt 0 ] || die "ldd listed no libraries for $bin (a static binary needs no script)"
# The paths compiled into binaries (/lib64/ld-linux-x86-64.so.2 as the interpreter) keep
# working through the same top-level symlinks as the build host's merged /usr.
for top in lib lib32 lib64 libx32; do
    if [ -L "/$top" ] && [ -d "$root/usr/$top" ]; then
        ln -s "usr/$top" "$root/$top"
    fi
done

# Files the libraries read: libcurl's and GnuTLS's default CA bundle (forwarding and
# shipping to a server with a public certificate), the name-service switch and hosts for
# getaddrinfo (glibc's files and dns back ends are built into libc; a runtime mounts its
# own /etc/hosts and /etc/resolv.conf over these), and the non-root user.
ca=/etc/ssl/certs/ca-certificates.crt
[ -f "$ca" ] || die "$ca is missing (Debian's ca-certificates)"
copy_file "$ca" "$ca"
mkdir -p "$root/etc"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
printf 'root:x:0:0:root:/root:/sbin/nologin\nkmon:x:%s:%s:kmon:%s:/sbin/nologin\n' \
    "$uid" "$gid" "$home" >"$root/etc/passwd"
printf 'root:x:0:\nkmon:x:%s:\n' "$gid" >"$root/etc/group"
# kmon writes a kubeconfig's inline certificates under /tmp.
mkdir -p "$root/tmp" "$root$home"
chmod 1777 "$root/tmp"
chmod 0755 "$root$home"

# One layer: everything owned by root except the data directory, owned by the user.
# Sorted names and one mtime make the same inputs give the same bytes.
tar_opts=(--format=gnu --sort=name --mtime="@$epoch" --numeric-owner)
tar -C "$root" "${tar_opts[@]}" --owner=0 --group=0 --exclude=".$home" -cf "$work/layer.tar" .
tar -C "$root" "${tar_opts[@]}" --owner="$uid" --group="$gid" --no-recursion \
    -rf "$work/layer.tar" ".$home"

# The OCI layout: a new image, the layer, then its configuration.
layout=$work/oci
umoci init --layout "$layout"
umoci new --image "$layout:$version"
umoci raw add-layer --image "$layout:$version" --history.created "$created" \
    --history.created_by "scripts/image.sh: kmon $version, its libraries and files" \
    "$work/layer.tar"
description="Kubernetes monitoring: node agent, server with its own TSDB, PromQL, logs"
labels=(
    --config.label "org.opencontainers.image.title=kmon"
    --config.label "org.opencontainers.image.description=$description"
    --config.label "org.opencontainers.image.version=$version"
    --config.label "org.opencontainers.image.revision=$revision"
    --config.label "org.opencontainers.image.created=$created"
)
if [ -n "$source_url" ]; then
    labels+=(--config.label "org.opencontainers.image.source=$source_url")
fi
# No license file in the repository: no org.opencontainers.image.licenses label.
for f in LICENSE LICENSE.md LICENSE.txt COPYING; do
    if [ -f "$f" ]; then
        echo "image: $f exists: add its SPDX name as org.opencontainers.image.licenses" >&2
    fi
done
umoci config --image "$layout:$version" --no-history --created "$created" \
    --os linux --architecture "$(dpkg --print-architecture 2>/dev/null || echo amd64)" \
    --config.user "$uid:$gid" --config.workingdir "$home" \
    --config.entrypoint /usr/bin/kmon --config.cmd server \
    --config.exposedports 5000/tcp "${labels[@]}"
umoci gc --layout "$layout"

mkdir -p "$(dirname "$out")"
tar -C "$layout" "${tar_opts[@]}" --owner=0 --group=0 -cf "$out.tmp" .
mv "$out.tmp" "$out"

# Sizes: the compressed layer (what a registry stores and a node pulls) and the root.
layer_bytes=$(find "$layout/blobs" -type f -size +64k -printf '%s\n' | awk '{ s += $1 } END { print s }')
root_bytes=$(du -sb "$root" | awk '{ print $1 }')
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo "image: $out (kmon:$version, revision $revision): $nlibs shared libraries," \
    "$(mib "$layer_bytes") compressed, $(mib "$root_bytes") unpacked"
