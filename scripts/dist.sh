#!/usr/bin/env bash
# make dist: a rabbit-wizard that installs without a Swift toolchain.
#
# Builds the binary with the Swift runtime linked in (--static-swift-stdlib: only the system's libraries
# stay shared, and the package depends on exactly their packages), generates a man page per command from
# the argument definitions (swift-argument-parser's generate-manual), bash/zsh/fish completions from the
# binary itself, and packs:
#   DIST/rabbit-wizard_VERSION_ARCH.deb                  (dpkg-deb)
#   DIST/rabbit-wizard-VERSION-linux-ARCH.tar.gz         (the same files under usr/)
#   DIST/rabbit-wizard-VERSION-linux-ARCH.tar.gz.sha256  (sha256sum -c reads it)
# The version is the binary's own (`rabbit-wizard --version`), which is RabbitWizard.version.
#
# Environment: CONFIG=release|debug (default release; the install test packs a debug build to save CI
# time), DIST=folder (default dist), SCRATCH=build folder (default .build-dist).
set -euo pipefail
cd "$(dirname "$0")/.."
config=${CONFIG:-release}
dist=${DIST:-dist}
scratch=${SCRATCH:-.build-dist}

say() { echo "dist: $*" >&2; }

say "building rabbit-wizard ($config, Swift runtime linked in)"
swift build -c "$config" --static-swift-stdlib --product rabbit-wizard --scratch-path "$scratch/static" >&2
bin="$(swift build -c "$config" --static-swift-stdlib --scratch-path "$scratch/static" --show-bin-path)/rabbit-wizard"
say "building the man page generator"
swift build --product generate-manual --scratch-path "$scratch/tools" >&2
genman="$(swift build --scratch-path "$scratch/tools" --show-bin-path)/generate-manual"

# Only system libraries may remain: no Swift runtime, Foundation or dispatch from the toolchain.
libs=$(ldd "$bin" | awk '$3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
if ldd "$bin" | grep -Eq 'libswift|libFoundation|libdispatch|libBlocksRuntime|_FoundationICU|/opt/swift'; then
  say "the binary still needs the Swift runtime:"; ldd "$bin" >&2; exit 1
fi

version=$("$bin" --version | awk '{print $2}')
arch=$(dpkg --print-architecture)
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] || { say "cannot read the version from '$("$bin" --version)'"; exit 1; }
# Dates in the man pages and timestamps in the archives: the last commit's, so a rebuild is the same.
date=$(git log -1 --format=%cs 2>/dev/null || date -u +%F)
epoch=$(git log -1 --format=%ct 2>/dev/null || date +%s)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/root"
install -D -m 0755 "$bin" "$root/usr/bin/rabbit-wizard"
strip --strip-debug "$root/usr/bin/rabbit-wizard" 2>/dev/null || true

say "man pages"
mkdir -p "$stage/man" "$root/usr/share/man/man1"
"$genman" "$bin" --multi-page --date "$date" -o "$stage/man" >&2
for page in "$stage"/man/*.1; do
  # The footer names the version the page describes; a blank line is a paragraph break (.Pp) in mdoc.
  sed -e "s/^\.Os\$/.Os rabbit-wizard $version/" -e 's/^$/.Pp/' "$page" | gzip -9n > "$root/usr/share/man/man1/$(basename "$page").gz"
done

say "completions"
install -d "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" "$root/usr/share/fish/vendor_completions.d"
"$bin" --generate-completion-script bash > "$root/usr/share/bash-completion/completions/rabbit-wizard"
"$bin" --generate-completion-script zsh > "$root/usr/share/zsh/vendor-completions/_rabbit-wizard"
"$bin" --generate-completion-script fish > "$root/usr/share/fish/vendor_completions.d/rabbit-wizard.fish"

doc="$root/usr/share/doc/rabbit-wizard"
install -D -m 0644 Resources/topology.example.yml "$doc/topology.example.yml"
install -m 0644 README.md "$doc/README.md"
gzip -9nc CHANGELOG.md > "$doc/changelog.gz"
printf 'rabbit-wizard %s\nSee README.md for what it does and how it was tested.\n' "$version" > "$doc/copyright"

# Depends: the package of every shared library the binary loads, and ssh for the servers.
depends=$(for l in $libs; do dpkg -S "$(readlink -f "$l")" 2>/dev/null || dpkg -S "$l" 2>/dev/null; done \
  | cut -d: -f1 | sort -u | grep -v '^libc-bin$' | paste -sd, - | sed 's/,/, /g')
[[ "$depends" == *libncursesw6* ]] || { say "expected libncursesw6 among the libraries' packages, got: $depends"; exit 1; }
installed=$(du -sk "$root/usr" | cut -f1)
mkdir -p "$root/DEBIAN"
cat > "$root/DEBIAN/control" <<EOF
Package: rabbit-wizard
Version: $version
Architecture: $arch
Maintainer: rabbit-wizard developers <rabbit-wizard@localhost>
Installed-Size: $installed
Depends: $depends, openssh-client
Section: admin
Priority: optional
Description: turn separate RabbitMQ servers into a cluster behind a TCP load balancer
 A terminal wizard and a CLI (plan, apply, status, retry, rollback, log) that configure RabbitMQ
 nodes over ssh, join them into a cluster, put nginx or HAProxy in front and verify the result,
 with a journal, rollback and a command log. RabbitMQ, nginx and HAProxy live on the servers.
EOF
find "$root" -exec touch -h -d "@$epoch" {} +

mkdir -p "$dist"
deb="$dist/rabbit-wizard_${version}_${arch}.deb"
tarball="$dist/rabbit-wizard-${version}-linux-${arch}.tar.gz"
SOURCE_DATE_EPOCH=$epoch dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >&2
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" -C "$root" -cf - usr | gzip -9n > "$tarball"
(cd "$dist" && sha256sum "$(basename "$tarball")" > "$(basename "$tarball").sha256")
say "$deb ($(du -h "$deb" | cut -f1)), $tarball"
echo "$deb"
echo "$tarball"
