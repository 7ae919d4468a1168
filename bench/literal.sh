#!/usr/bin/env bash
# The seed guide followed literally, node by node, on a loopback sandbox: DIR N.
# Step 2: add the partition setting to each node's rabbitmq.conf and restart it. Step 3 (with the cookie
# copy the guide leaves out): copy the seed's cookie to each other node and restart it again, then
# stop_app / join_cluster / start_app. Then NGINX. No checks, no verification, no way back.
set -euo pipefail
. "$(dirname "$0")/common.sh"
for l in "${nodes[@]}"; do
    add_setting "$l"
    restart "$l"
done
for l in "${joiners[@]}"; do
    restart "$l" cookie
    join "$l"
done
load_balancer
