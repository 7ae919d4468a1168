#!/usr/bin/env bash
# The README's first command: a loopback sandbox of three real RabbitMQ nodes, each with its own cookie,
# turned into one cluster behind nginx by the wizard, step by step, then a failover drill through nginx.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product rabbit-wizard
bin=.build/release/rabbit-wizard
dir=${SANDBOX_DIR:-/tmp/rabbit-wizard-demo}
"$bin" --version
"$bin" sandbox down --dir "$dir" >/dev/null
echo "== Three separate RabbitMQ nodes on loopback (each with its own cookie), nginx to go in front:"
"$bin" sandbox up --dir "$dir" --lb nginx
echo
echo "== What the wizard would change (read-only):"
"$bin" plan --config "$dir/topology.yml"
echo
echo "== Apply, step by step:"
"$bin" apply --yes --config "$dir/topology.yml"
echo
echo "== Failover drill: new AMQP connections through nginx while each node is stopped in turn:"
"$bin" apply --yes --only failover-drill --config "$dir/topology.yml"
echo
echo "== Status (recorded state and what the nodes show now):"
"$bin" status --config "$dir/topology.yml"
echo
echo "The cluster keeps running. Try: $bin rollback --all --config $dir/topology.yml"
echo "Remove it with: $bin sandbox down --dir $dir"
