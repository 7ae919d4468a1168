#!/usr/bin/env bash
# netbed.sh: real separate hosts on one Linux machine, for the tests (issue 8).
#
# ServerA, ServerB, ServerC, LB and LB2 are each
#   - a network namespace with its own address on a bridge shared with the controller (this namespace,
#     where the wizard runs): NET.11-13, NET.20 and NET.21, the controller NET.1 (NET.30 is left free for
#     the load balancers' floating address);
#   - a persistent UTS namespace (its hostname) and a persistent mount namespace in which the Debian
#     layout is private to the host: /etc/rabbitmq (a copy), /var/lib/rabbitmq, /var/log/rabbitmq, /run,
#     /etc/hosts (the same file as /etc/netns/NS/hosts); on LB and LB2 also /etc/nginx, /etc/haproxy,
#     /etc/keepalived (copies) and /var/log/nginx;
#   - sshd, key-only, with its own host key, listening on the host's address.
# RabbitMQ, nginx and HAProxy are not started here: the tests start them through the Debian service
# commands inside each host (`netbed.sh run DIR ServerA service rabbitmq-server start`).
#
#   netbed.sh up DIR               create (idempotent); DIR/env lists addresses, key and host key fingerprints
#   netbed.sh down DIR             stop every process in the hosts' network namespaces, then remove exactly
#                                  what DIR/created lists, newest first (and DIR)
#   netbed.sh run DIR HOST CMD...  run CMD inside HOST (its network, hostname and mounts)
#   netbed.sh link DIR HOST up|down  restore or cut the host's link (HOST: its name or address): a cut is
#                                  silent (no RST, no ICMP)
#   netbed.sh split DIR HOST cut|heal  cut or heal the paths between HOST and the other servers only (the
#                                  controller and LB still reach it): a network partition, silent as well
#
# Environment: NETBED_PREFIX (default rwb; names of namespaces and links), NETBED_NET (default 10.231.0).
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 64; }
[ $# -ge 2 ] || usage
cmd=$1
dir=$(realpath -m "$2")
shift 2
P=${NETBED_PREFIX:-rwb}
NET=${NETBED_NET:-10.231.0}
HOSTS=(ServerA ServerB ServerC LB LB2)
BR=${P}br0

addr() { case $1 in ServerA) echo "$NET.11" ;; ServerB) echo "$NET.12" ;; ServerC) echo "$NET.13" ;; LB) echo "$NET.20" ;; LB2) echo "$NET.21" ;; *) echo "netbed: unknown host $1" >&2; exit 64 ;; esac; }
short() { case $1 in ServerA) echo a ;; ServerB) echo b ;; ServerC) echo c ;; LB) echo lb ;; LB2) echo lb2 ;; esac; }
ns() { echo "$P-$1"; }
hostdir() { echo "$dir/hosts/$1"; }

# Everything made is recorded (one line: KIND ARG) right after it exists; down undoes the list backwards.
record() { grep -qxF "$*" "$dir/created" 2>/dev/null || echo "$*" >> "$dir/created"; }

enter() { # HOST CMD...: inside the host's network, UTS and mount namespaces
    local h=$1
    shift
    nsenter --net="/run/netns/$(ns "$h")" --uts="$dir/ns/$h.uts" --mount="$dir/ns/$h.mnt" -- "$@"
}

up_host() {
    local h=$1 n v hd
    n=$(ns "$h")
    v="$P-$(short "$h")"
    hd=$(hostdir "$h")
    mkdir -p "$hd"
    # Network: a namespace, a veth pair into the bridge, the host's address.
    if ! ip netns list | grep -q "^$n\b"; then
        ip netns add "$n"
    fi
    record netns "$n"
    if ! ip link show "$v" >/dev/null 2>&1; then
        ip link add "$v" type veth peer name "$v-p"
        ip link set "$v-p" netns "$n"
        ip link set "$v" master "$BR" up
        ip netns exec "$n" ip link set "$v-p" name eth0
        ip netns exec "$n" ip addr add "$(addr "$h")/24" dev eth0
        ip netns exec "$n" ip link set eth0 up
        ip netns exec "$n" ip link set lo up
    fi
    record link "$v"
    # Name resolution: every host by name, the controller as "controller".
    mkdir -p /etc/netns/"$n"
    record dir /etc/netns/"$n"
    {
        echo "127.0.0.1 localhost"
        echo "$NET.1 controller"
        for o in "${HOSTS[@]}"; do echo "$(addr "$o") $o"; done
    } > /etc/netns/"$n"/hosts
    # Private copies of the Debian layout, owned as the packages own them.
    if [ ! -d "$hd/etc-rabbitmq" ]; then
        cp -a /etc/rabbitmq "$hd/etc-rabbitmq"
        mkdir -p "$hd/var-lib-rabbitmq" "$hd/var-log-rabbitmq" "$hd/run/sshd"
        chown rabbitmq:rabbitmq "$hd/var-lib-rabbitmq" "$hd/var-log-rabbitmq"
        chmod 755 "$hd/var-lib-rabbitmq" "$hd/run" "$hd/run/sshd"
        chmod 750 "$hd/var-log-rabbitmq"
        if [ "$h" = LB ] || [ "$h" = LB2 ]; then
            cp -a /etc/nginx "$hd/etc-nginx"
            cp -a /etc/haproxy "$hd/etc-haproxy"
            cp -a /etc/keepalived "$hd/etc-keepalived"
            mkdir -p "$hd/var-log-nginx"
        fi
    fi
    # UTS and mount namespaces that outlive this script (bound to files in the private $dir/ns).
    if ! grep -q " $dir/ns/$h.mnt " /proc/mounts; then
        touch "$dir/ns/$h.uts" "$dir/ns/$h.mnt"
        unshare --uts="$dir/ns/$h.uts" --mount="$dir/ns/$h.mnt" --propagation private true
        record mount "$dir/ns/$h.uts"
        record mount "$dir/ns/$h.mnt"
        nsenter --uts="$dir/ns/$h.uts" --mount="$dir/ns/$h.mnt" -- sh -eu -c '
            hd=$1 h=$2 n=$3
            hostname "$h"
            mount --bind "$hd/etc-rabbitmq" /etc/rabbitmq
            mount --bind "$hd/var-lib-rabbitmq" /var/lib/rabbitmq
            mount --bind "$hd/var-log-rabbitmq" /var/log/rabbitmq
            mount --bind "$hd/run" /run
            mount --bind "/etc/netns/$n/hosts" /etc/hosts
            if [ "$h" = LB ] || [ "$h" = LB2 ]; then
                mount --bind "$hd/etc-nginx" /etc/nginx
                mount --bind "$hd/etc-haproxy" /etc/haproxy
                mount --bind "$hd/etc-keepalived" /etc/keepalived
                mount --bind "$hd/var-log-nginx" /var/log/nginx
            fi' sh "$hd" "$h" "$n"
    fi
    # sshd: key-only, its own host key, on the host's address.
    if [ ! -f "$hd/ssh_host_ed25519_key" ]; then
        ssh-keygen -q -t ed25519 -N '' -C "$h" -f "$hd/ssh_host_ed25519_key"
    fi
    cat > "$hd/sshd_config" <<EOF
ListenAddress $(addr "$h"):22
HostKey $hd/ssh_host_ed25519_key
PidFile /run/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxStartups 100
MaxSessions 100
EOF
    if ! { [ -f "$hd/run/sshd.pid" ] && kill -0 "$(cat "$hd/run/sshd.pid")" 2>/dev/null; }; then
        # run/ is the host's /run: the pid file shows outside as $hd/run/sshd.pid.
        enter "$h" /usr/sbin/sshd -f "$hd/sshd_config"
    fi
    echo "FP_$h=$(ssh-keygen -l -f "$hd/ssh_host_ed25519_key.pub" | awk '{print $2}')" >> "$dir/env.new"
    echo "ADDR_$h=$(addr "$h")" >> "$dir/env.new"
}

up() {
    mkdir -p "$dir/ns" "$dir/hosts"
    chmod 700 "$dir"
    record dir "$dir"
    # The namespace files must sit on a private mount.
    if ! grep -q " $dir/ns " /proc/mounts; then
        mount --bind "$dir/ns" "$dir/ns"
        mount --make-private "$dir/ns"
    fi
    record mount "$dir/ns"
    if ! ip link show "$BR" >/dev/null 2>&1; then
        ip link add "$BR" type bridge
        # A fixed MAC: a bridge without one takes its ports' lowest, so a link cut or restored (a port
        # leaving or joining) could change the controller's MAC, which flushes its neighbour table as if
        # its own NIC had been replaced, and its next ARP request for a floating address is answered by
        # both holders during a healed split. 02: locally administered; then the controller's address.
        ip link set "$BR" address "$(printf '02:01:%02x:%02x:%02x:01' ${NET//./ })"
        ip addr add "$NET.1/24" dev "$BR"
        ip link set "$BR" up
    fi
    record link "$BR"
    [ -f "$dir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C controller -f "$dir/id_ed25519"
    cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
    : > "$dir/env.new"
    echo "KEY=$dir/id_ed25519" >> "$dir/env.new"
    echo "CONTROLLER=$NET.1" >> "$dir/env.new"
    for h in "${HOSTS[@]}"; do up_host "$h"; done
    # sshd answers on every host before up returns.
    for h in "${HOSTS[@]}"; do
        local i=0
        until (exec 3<>"/dev/tcp/$(addr "$h")/22") 2>/dev/null; do
            i=$((i + 1))
            [ $i -lt 100 ] || { echo "netbed: sshd on $h does not answer" >&2; exit 1; }
            sleep 0.1
        done
    done
    mv "$dir/env.new" "$dir/env"
}

# Every process in the hosts' network namespaces: what the bed and the tests started there.
stop_processes() {
    local pids="" n h
    for h in "${HOSTS[@]}"; do
        n=$(ns "$h")
        ip netns list | grep -q "^$n\b" || continue
        pids="$pids $(ip netns pids "$n" | tr '\n' ' ')"
    done
    pids=$(echo $pids)
    [ -n "$pids" ] || return 0
    kill -TERM $pids 2>/dev/null || true
    for _ in $(seq 100); do
        local alive=""
        for p in $pids; do kill -0 "$p" 2>/dev/null && [ "$(awk '{print $3}' /proc/$p/stat 2>/dev/null)" != Z ] && alive="$alive $p"; done
        [ -n "$alive" ] || return 0
        sleep 0.1
    done
    kill -KILL $alive 2>/dev/null || true
}

down() {
    [ -f "$dir/created" ] || { rm -rf "$dir"; return 0; }
    stop_processes
    tac "$dir/created" | while read -r kind arg; do
        case $kind in
            mount) grep -q " $arg " /proc/mounts && { umount "$arg" 2>/dev/null || umount -l "$arg"; } ;;
            netns) ip netns list | grep -q "^$arg\b" && ip netns del "$arg" ;;
            link) ip link show "$arg" >/dev/null 2>&1 && ip link del "$arg" ;;
            dir) rm -rf "$arg" ;;
        esac || true
    done
    rmdir /etc/netns 2>/dev/null || true
    rm -rf "$dir"
}

link() {
    local h=$1 state=$2 v o
    # A host may be named by its address (a pair's load balancer host, as the topology reaches it).
    for o in "${HOSTS[@]}"; do [ "$(addr "$o")" != "$h" ] || h=$o; done
    v="$P-$(short "$h")"
    # Down on the bridge side: packets are dropped silently, as on a pulled cable.
    ip link set "$v" nomaster
    if [ "$state" = up ]; then ip link set "$v" master "$BR" up; fi
}

split() {
    local h=$1 state=$2 o
    # Each side's neighbour entry for the other points at an address no one has: frames are dropped on
    # the bridge, so both directions go silent while every other path keeps working.
    for o in ServerA ServerB ServerC; do
        [ "$o" != "$h" ] || continue
        if [ "$state" = cut ]; then
            ip netns exec "$(ns "$h")" ip neigh replace "$(addr "$o")" lladdr 02:00:00:00:00:01 nud permanent dev eth0
            ip netns exec "$(ns "$o")" ip neigh replace "$(addr "$h")" lladdr 02:00:00:00:00:01 nud permanent dev eth0
        else
            ip netns exec "$(ns "$h")" ip neigh del "$(addr "$o")" dev eth0 2>/dev/null || true
            ip netns exec "$(ns "$o")" ip neigh del "$(addr "$h")" dev eth0 2>/dev/null || true
        fi
    done
}

case $cmd in
    up) trap 'echo "netbed: up failed; remove what was made with: $0 down $dir" >&2' ERR; up ;;
    down) down ;;
    run) [ $# -ge 2 ] || usage; enter "$@" ;;
    link) [ $# -eq 2 ] || usage; link "$@" ;;
    split) [ $# -eq 2 ] && case $2 in cut | heal) true ;; *) false ;; esac || usage; split "$@" ;;
    *) usage ;;
esac
