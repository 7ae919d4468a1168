#!/usr/bin/env bash
# The README's first command: build and show what the wizard can do today.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product rabbit-wizard
bin=.build/release/rabbit-wizard
state=$(mktemp -d /tmp/rabbit-wizard-demo-XXXXXX)
trap 'rm -rf "$state"' EXIT
"$bin" --version
echo
echo "== One command through the executor (deadline, own process group, command log):"
"$bin" exec --state-dir "$state" --read-only --step demo -- uname -sr
echo
echo "== A secret on stdin is scrubbed from output and log:"
printf 'demo-cookie-value\n' > "$state/secret"
"$bin" exec --state-dir "$state" --secret-stdin-file "$state/secret" -- cat
echo
echo "== The command log ($state/commands.jsonl):"
cat "$state/commands.jsonl"
echo
echo "The sandbox cluster and the guided setup are being built; see CHANGELOG.md."
