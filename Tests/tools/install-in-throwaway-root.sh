#!/usr/bin/env bash
# Installs a rabbit-wizard .deb into a throwaway root and uses it there, for PackageTests.
#
# The root is this machine's own root filesystem under an overlay whose upper layer is a tmpfs, in a
# private mount namespace, with the Swift toolchain (/opt/swift) deleted from it: what an admin's jump
# host looks like. Nothing on the machine itself changes; the namespace and its tmpfs go away with the
# last process in it (the sandbox nodes are stopped by `sandbox down`, by their recorded PIDs).
#
#   install-in-throwaway-root.sh NEW.deb WORK
# WORK/results/* receives what each check printed; the test reads and judges them. Needs root.
set -euo pipefail
deb=$(readlink -f "$1")
work=$(readlink -f "$2")
mkdir -p "$work/results" "$work/root"

exec unshare --mount --propagation private -- bash -s "$deb" "$work" <<'OUTER'
set -euo pipefail
deb=$1; work=$2
r=$work/root
mount -t tmpfs -o size=1g rabbit-wizard-throwaway "$r"
mkdir -p "$r/upper" "$r/work" "$r/merged"
mount -t overlay overlay -o "lowerdir=/,upperdir=$r/upper,workdir=$r/work" "$r/merged"
m=$r/merged
rm -rf "$m/opt/swift"
mkdir -p "$m/proc" "$m/dev" "$m/results" "$m/tmp/pkg"
mount -t proc proc "$m/proc"
mount --rbind /dev "$m/dev"
mount --bind "$work/results" "$m/results"
# An older build of the same package (only its version lowered), to install the new one over.
dpkg-deb -R "$deb" "$r/old"
sed -i 's/^Version: .*/Version: 0.0.1/' "$r/old/DEBIAN/control"
dpkg-deb --root-owner-group -b "$r/old" "$m/tmp/pkg/old.deb" >/dev/null
cp "$deb" "$m/tmp/pkg/new.deb"

chroot "$m" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb LANG=C.UTF-8 bash -s <<'INNER'
set -uo pipefail
out=/results
{ command -v swift || echo "no swift"; ls /opt/swift 2>&1 || true; } > $out/toolchain
dpkg -i /tmp/pkg/old.deb > $out/install-old 2>&1; echo "exit $?" >> $out/install-old
dpkg-query -W -f='${Version}\n' rabbit-wizard > $out/version-old 2>&1
dpkg -i /tmp/pkg/new.deb > $out/install-new 2>&1; echo "exit $?" >> $out/install-new
dpkg-query -W -f='${Version}\n' rabbit-wizard > $out/version-new 2>&1
dpkg -L rabbit-wizard > $out/files 2>&1
rabbit-wizard --version > $out/version 2>&1
ldd /usr/bin/rabbit-wizard > $out/ldd 2>&1
MANPAGER=cat MANWIDTH=100 man rabbit-wizard > $out/man 2>$out/man.err; echo "exit $?" >> $out/man.err
MANPAGER=cat MANWIDTH=100 man rabbit-wizard.plan > $out/man-plan 2>&1
bash -c 'source /usr/share/bash-completion/completions/rabbit-wizard && complete -p rabbit-wizard' > $out/completion 2>&1
trap 'rabbit-wizard sandbox down --dir /tmp/sbx > /results/sandbox-down 2>&1' EXIT
rabbit-wizard sandbox up --nodes 2 --dir /tmp/sbx > $out/sandbox-up 2>&1; echo "exit $?" >> $out/sandbox-up
rabbit-wizard plan --config /tmp/sbx/topology.yml --state-dir /tmp/rw-state > $out/plan 2>&1; echo "exit $?" >> $out/plan
rabbit-wizard sandbox down --dir /tmp/sbx > $out/sandbox-down 2>&1; echo "exit $?" >> $out/sandbox-down
trap - EXIT
dpkg -r rabbit-wizard > $out/remove 2>&1; echo "exit $?" >> $out/remove
{ dpkg -L rabbit-wizard 2>&1; echo "exit $?"; } > $out/files-after
{ for f in $(cat $out/files); do [ -f "$f" ] && echo "left: $f"; done; true; } > $out/left-behind
{ ls -d /tmp/rw-state && ls /tmp/rw-state; } > $out/state-after 2>&1
INNER
OUTER
