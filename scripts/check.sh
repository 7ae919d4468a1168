#!/usr/bin/env bash
# make check: the fast test layer, every test outside the ScenarioTests target. These need no root, no
# service, no network and no package beyond the Swift toolchain: unit tests, the reducer, the journal,
# golden plans and screens, the steps on files and scripted transports, the engine through the built binary
# on files. Run as root (CI, `make test`), they run as the unprivileged user `nobody`, so a test that
# needs root fails here instead of passing by accident.
# Usage: scripts/check.sh [--filter REGEX]   (after `swift build --build-tests`; `make check` does both)
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=.build/debug/rabbit-wizardPackageTests.xctest
if [ ! -x "$bundle" ]; then
  echo "check: $bundle is not built; run: swift build --build-tests (or make check)" >&2
  exit 2
fi
args=(--testing-library swift-testing --skip '^ScenarioTests\.' "$@")
if [ "$(id -u)" -ne 0 ]; then
  exec "$bundle" "${args[@]}"
fi
# As root: drop to nobody with a private HOME and a clean environment; the tree must be readable by it.
home=$(mktemp -d /tmp/rw-check-XXXXXX)
trap 'rm -rf "$home"' EXIT
chown nobody: "$home"
if ! setpriv --reuid=nobody --regid=nogroup --clear-groups test -r "$bundle"; then
  echo "check: the user nobody cannot read $PWD/$bundle; make the folders on its path readable (chmod o+rx)" >&2
  exit 2
fi
setpriv --reuid=nobody --regid=nogroup --clear-groups \
  env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$home" TMPDIR=/tmp LANG=C.UTF-8 "$bundle" "${args[@]}"
