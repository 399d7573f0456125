#!/usr/bin/env bash
# Makes (once) the Debian trees the aarch64 build needs, cached outside the clone and keyed by the
# versions of the packages they are made of, and prints the cache folder of the current key:
#   KEYDIR/amd64     trixie amd64 tree in which Debian's Swift compiler runs (chroot)
#   KEYDIR/sdk       Swift SDK bundle; KEYDIR/sdk/sysroot is the trixie arm64 sysroot
#   KEYDIR/qemu      trixie's qemu-user (static binaries; bookworm's 7.2 lacks TCGETS2)
# Only the package indices are checked against the archive (unchanged ones are not downloaded
# again); METERAGENT_ARM64_OFFLINE=1 skips even that and takes the newest complete tree.
set -euo pipefail
CACHE=${METERAGENT_ARM64_CACHE:-/var/cache/meteragent-arm64}
SUITE=trixie
MIRROR=http://deb.debian.org/debian
SECURITY=http://deb.debian.org/debian-security
# The compiler's tree and the gateway's sysroot: Debian trixie's Swift 6.0.3 (see README, "ARM gateways").
HOST_PACKAGES="swiftlang libswiftlang pkgconf libc6-dev libstdc++-14-dev git ca-certificates"
# The -dev package of every C library the agent uses, and libnfc/libmosquitto (loaded at run time).
# libssl-dev for libcrypto's headers only: libcrypto.so.3 itself (libssl3t64 on trixie) is opened at
# run time, like libmosquitto, which already depends on it.
TARGET_PACKAGES="libc6-dev libstdc++-14-dev libgcc-14-dev linux-libc-dev swiftlang libswiftlang
  libmodbus-dev libserialport-dev libyaml-dev libsqlite3-dev libmosquitto-dev libnfc-dev libssl-dev"
QEMU_PACKAGE=qemu-user
# Bump when the way the trees are made changes (part of the key).
LAYOUT=1
log() { echo "arm64 trees: $*" >&2; }

need() {
    local missing=""
    for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"; done
    if [ -n "$missing" ]; then
        log "installing$missing"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2
    fi
}
[ "$(id -u)" = 0 ] || { log "needs root (mmdebstrap, chroot)"; exit 1; }
need mmdebstrap debian-archive-keyring

# A private apt state (not the machine's) that knows trixie for amd64 and arm64.
APT=$CACHE/apt
mkdir -p "$APT/lists/partial" "$APT/archives/partial" "$APT/etc/parts"
cat > "$APT/etc/sources.list" <<SRC
deb [arch=amd64,arm64] $MIRROR $SUITE main
deb [arch=amd64,arm64] $SECURITY $SUITE-security main
SRC
APTOPT=(-o Dir::State="$APT" -o Dir::State::Lists="$APT/lists" -o Dir::State::status=/dev/null
        -o Dir::Cache="$APT" -o Dir::Etc::SourceList="$APT/etc/sources.list" -o Dir::Etc::SourceParts="$APT/etc/parts"
        -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts="$APT/etc/parts"
        -o APT::Architecture=amd64 -o APT::Architectures=amd64,arm64 -o Debug::NoLocking=1 -o APT::Sandbox::User=root)

newest() { ls -dt "$CACHE"/key-*/.complete 2>/dev/null | head -1 | xargs -r dirname; }

if [ "${METERAGENT_ARM64_OFFLINE:-0}" = 1 ]; then
    dir=$(newest); [ -n "$dir" ] || { log "offline and no complete tree in $CACHE"; exit 1; }
    echo "$dir"; exit 0
fi
if ! apt-get "${APTOPT[@]}" -qq update >&2; then
    dir=$(newest); [ -n "$dir" ] || { log "cannot reach the archive and no tree in $CACHE"; exit 1; }
    log "archive unreachable: using $dir"; echo "$dir"; exit 0
fi

# The key of the indices just fetched, when they are the same as last time (resolving is slow).
indices=$( (echo "layout $LAYOUT $HOST_PACKAGES $TARGET_PACKAGES $QEMU_PACKAGE"; cat "$APT"/lists/*InRelease) | sha256sum | cut -c1-16)
if [ -f "$CACHE/indices-$indices" ] && [ -f "$(cat "$CACHE/indices-$indices")/.complete" ]; then
    cat "$CACHE/indices-$indices"; exit 0
fi

# The key: the candidate version of every package of both trees and their dependencies.
closure() { # arch packages...
    local arch=$1; shift
    apt-get "${APTOPT[@]}" -o APT::Architecture="$arch" -s -qq install --no-install-recommends \
        $(printf "%s:$arch " "$@") 2>/dev/null | awk '$1=="Inst"{print $2, $3}' | tr -d '()[]' | sort
}
{
    echo "$SUITE host: $HOST_PACKAGES"; closure amd64 $HOST_PACKAGES
    echo "$SUITE target: $TARGET_PACKAGES"; closure arm64 $TARGET_PACKAGES
    echo "qemu"; closure amd64 $QEMU_PACKAGE
    echo "layout $LAYOUT"
} > "$CACHE/versions.new"
grep -q '^swiftlang' "$CACHE/versions.new" || { log "could not resolve the packages:"; cat "$CACHE/versions.new" >&2; exit 1; }
KEY=$(sha256sum "$CACHE/versions.new" | cut -c1-16)
DIR=$CACHE/key-$KEY
if [ -f "$DIR/.complete" ]; then rm -f "$CACHE"/indices-*; echo "$DIR" > "$CACHE/indices-$indices"; echo "$DIR"; exit 0; fi

log "making $DIR (about 1.1 GB of downloads and 5 GB of disk on a new machine)"
mkdir -p "$DIR"
cp "$CACHE/versions.new" "$DIR/versions"
SOURCES=("deb $MIRROR $SUITE main" "deb $SECURITY $SUITE-security main")

[ -f "$DIR/amd64.done" ] || (
    rm -rf "$DIR/amd64"
    mmdebstrap --quiet --variant=apt --arch=amd64 --include="${HOST_PACKAGES// /,}" \
        --aptopt='Acquire::Retries "3"' "$SUITE" "$DIR/amd64" "${SOURCES[@]}"
    touch "$DIR/amd64.done"
) >&2 &
host_pid=$!

SYSROOT=$DIR/sdk/sysroot
[ -f "$DIR/sysroot.done" ] || (
    rm -rf "$SYSROOT"; mkdir -p "$DIR/sdk"
    mmdebstrap --quiet --variant=extract --arch=arm64 --include="$(echo $TARGET_PACKAGES | tr ' ' ,)" \
        --aptopt='Acquire::Retries "3"' "$SUITE" "$SYSROOT" "${SOURCES[@]}"
    # A merged /usr as on the gateway; no dev/, or qemu -L would take the sysroot's /dev for the real one.
    for d in bin sbin lib; do
        if [ -d "$SYSROOT/$d" ] && [ ! -L "$SYSROOT/$d" ]; then
            mkdir -p "$SYSROOT/usr/$d"; cp -a "$SYSROOT/$d/." "$SYSROOT/usr/$d/"; rm -rf "$SYSROOT/$d"
        fi
        [ -e "$SYSROOT/$d" ] || ln -s "usr/$d" "$SYSROOT/$d"
    done
    rm -rf "$SYSROOT/dev" "$SYSROOT/var/cache/apt" "$SYSROOT/var/lib/apt/lists" "$SYSROOT/usr/share/doc" "$SYSROOT/usr/share/man"
    touch "$DIR/sysroot.done"
) >&2 &
target_pid=$!

[ -x "$DIR/qemu/bin/qemu-aarch64" ] || (
    rm -rf "$DIR/qemu.tmp"; mkdir -p "$DIR/qemu.tmp" && cd "$DIR/qemu.tmp"
    apt-get "${APTOPT[@]}" -qq download "$QEMU_PACKAGE:amd64"
    dpkg-deb -x ./*.deb "$DIR/qemu.tmp/root"
    mkdir -p "$DIR/qemu/bin" && cp root/usr/bin/qemu-aarch64 "$DIR/qemu/bin/"
    cd "$DIR" && rm -rf "$DIR/qemu.tmp"
) >&2 &
qemu_pid=$!

ok=1
wait $host_pid || { log "the amd64 tree failed"; ok=0; }
wait $target_pid || { log "the arm64 sysroot failed"; ok=0; }
wait $qemu_pid || { log "qemu failed"; ok=0; }
[ $ok = 1 ] || exit 1

# The Swift SDK bundle; paths relative to it, so it works in the chroot (at /sdk) and outside.
cat > "$DIR/sdk/info.json" <<JSON
{
  "schemaVersion": "1.0",
  "artifacts": {
    "debian-trixie-aarch64": {
      "type": "swiftSDK",
      "version": "$SUITE",
      "variants": [ { "path": ".", "supportedTriples": ["x86_64-pc-linux-gnu", "x86_64-unknown-linux-gnu"] } ]
    }
  }
}
JSON
cat > "$DIR/sdk/swift-sdk.json" <<JSON
{
  "schemaVersion": "4.0",
  "targetTriples": {
    "aarch64-unknown-linux-gnu": {
      "sdkRootPath": "sysroot",
      "swiftResourcesPath": "sysroot/usr/libexec/swift/lib/swift",
      "swiftStaticResourcesPath": "sysroot/usr/libexec/swift/lib/swift_static",
      "toolsetPaths": ["toolset.json"]
    }
  }
}
JSON
cat > "$DIR/sdk/toolset.json" <<JSON
{ "schemaVersion": "1.0", "swiftCompiler": { "extraCLIOptions": ["-use-ld=lld"] } }
JSON
touch "$DIR/.complete"
rm -f "$CACHE"/indices-*; echo "$DIR" > "$CACHE/indices-$indices"
log "done: $(du -sh "$DIR" | cut -f1) in $DIR"
echo "$DIR"
