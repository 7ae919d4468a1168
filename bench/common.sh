# Shared by the reference scripts: the sandbox's layout (made by `rabbit-wizard sandbox up DIR --lb nginx`).
# Each node X has DIR/nodes/X/{rabbitmq.conf, home/.erlang.cookie, bin/start, bin/stop, bin/rabbitmqctl}.
dir=$1
n=$2
letters=(a b c d e f g h i)
nodes=("${letters[@]:0:n}")
joiners=("${nodes[@]:1}")
seed=a
value=$(sed -n 's/^ *partition_handling: *//p' "$dir/topology.yml")
port() { sed -n "s/^ *export RABBITMQ_NODE_PORT=//p" "$dir/nodes/$1/bin/env"; }
ctl() { local l=$1; shift; "$dir/nodes/$l/bin/rabbitmqctl" -n "rabbit-$l@localhost" "$@"; }
# Restart a node; with "cookie", the seed's cookie is copied while it is stopped (a running node keeps
# its old cookie, and the CLI would then no longer reach it to stop it).
restart() {
    "$dir/nodes/$1/bin/stop" >/dev/null
    if [ "${2:-}" = cookie ]; then copy_cookie "$1"; fi
    "$dir/nodes/$1/bin/start" >/dev/null
}
add_setting() { printf '\n## Recovery strategy.\ncluster_partition_handling = %s\n' "$value" >> "$dir/nodes/$1/rabbitmq.conf"; }
copy_cookie() {
    local f="$dir/nodes/$1/home/.erlang.cookie"
    chmod 600 "$f"
    cat "$dir/nodes/$seed/home/.erlang.cookie" > "$f"
    chmod 400 "$f"
}
join() {
    ctl "$1" stop_app >/dev/null
    ctl "$1" join_cluster "rabbit-$seed@localhost" >/dev/null
    ctl "$1" start_app >/dev/null
}
# The guide's NGINX section: a stream block with every node, started once.
load_balancer() {
    local lb=$dir/lb listen
    listen=$(sed -n 's/^ *listen_port: *//p' "$dir/topology.yml")
    mkdir -p "$lb"
    {
        echo "load_module /usr/lib/nginx/modules/ngx_stream_module.so;"
        echo "pid $lb/nginx.pid;"
        echo "error_log $lb/error.log notice;"
        echo "events { worker_connections 1024; }"
        echo "stream {"
        echo "    upstream rabbitmq { "
        for l in "${nodes[@]}"; do echo "        server 127.0.0.1:$(port "$l");"; done
        echo "    }"
        echo "    server { listen 127.0.0.1:$listen; proxy_pass rabbitmq; }"
        echo "}"
    } > "$lb/nginx.conf"
    nginx -q -c "$lb/nginx.conf" -p "$lb"
}
