#!/usr/bin/env bash
# The README's first command: the wizard screen on a loopback sandbox of three real RabbitMQ nodes, each
# with its own cookie, with nginx to go in front. Enter walks through every step; ? lists the keys.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -t 0 ] || [ ! -t 1 ]; then
    echo "make wizard needs a terminal (for a run without one: make demo)" >&2
    exit 64
fi
swift build --product rabbit-wizard
bin=.build/debug/rabbit-wizard
dir=${SANDBOX_DIR:-/tmp/rabbit-wizard-sandbox}
state=$("$bin" sandbox status --dir "$dir" 2>/dev/null || true)
if ! grep -q running <<<"$state" || grep -q stopped <<<"$state"; then
    "$bin" sandbox down --dir "$dir" >/dev/null 2>&1 || true
    "$bin" sandbox up --dir "$dir" --lb nginx
fi
status=0
"$bin" --config "$dir/topology.yml" || status=$?
echo "The sandbox keeps running: open the wizard again with $bin --config $dir/topology.yml"
echo "Remove it with: $bin sandbox down --dir $dir"
exit "$status"
