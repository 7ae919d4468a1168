#!/usr/bin/env bash
# The leanest correct bare sequence on a loopback sandbox: DIR N. Each node gets the setting and (joiners)
# the seed's cookie, then one restart per node, all nodes in parallel; joins one after another (joining
# nodes at once races on the seed); NGINX. No checks and no verification.
set -euo pipefail
. "$(dirname "$0")/common.sh"
pids=()
for l in "${nodes[@]}"; do
    add_setting "$l"
    if [ "$l" = "$seed" ]; then restart "$l" & else restart "$l" cookie & fi
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
for l in "${joiners[@]}"; do join "$l"; done
load_balancer
