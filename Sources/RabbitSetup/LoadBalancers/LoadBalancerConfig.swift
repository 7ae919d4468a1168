/// Where a load balancer's configuration lives and how it is validated, started, reloaded and stopped:
/// data per kind and profile, like ``PlatformProfile``. `{file}` in `validate` is the candidate file.
public struct LoadBalancerLayout: Sendable, Equatable {
    /// The file the wizard owns (whole file) or edits between markers (`block`).
    public var configPath: String
    public var block: Bool
    /// Checks a complete candidate before anything is activated.
    public var validate: [String]
    /// The candidate can only be checked in place (the main config includes it): install, check, and
    /// put the old file back if the check fails, before any reload.
    public var validateInPlace: Bool
    public var start: [String]
    public var reload: [String]
    /// Exit 0 when the load balancer runs.
    public var running: [String]
    /// Stops it (the sandbox's own process, by its pid file).
    public var stop: [String]

    static let markerBegin = "# BEGIN rabbit-wizard: RabbitMQ load balancer (managed; edits here are replaced)"
    static let markerEnd = "# END rabbit-wizard"

    public static func layout(for lb: LoadBalancerSpec) -> LoadBalancerLayout {
        let d = lb.sandboxDir ?? ""
        let pidAlive = { (pid: String) in ["sh", "-c", "[ -f \"$1\" ] && kill -0 \"$(cat \"$1\")\" 2>/dev/null", "sh", pid] }
        let killPid = { (pid: String) in
            ["sh", "-c", "[ -f \"$1\" ] || exit 0; p=$(cat \"$1\"); kill \"$p\" 2>/dev/null; i=0; "
                + "while kill -0 \"$p\" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; rm -f \"$1\"", "sh", pid]
        }
        switch (lb.kind, lb.profile) {
        case (.nginx, .sandbox):
            let conf = lb.configPath ?? d + "/nginx.conf"
            return LoadBalancerLayout(
                configPath: conf, block: false,
                validate: ["nginx", "-t", "-q", "-e", d + "/error.log", "-p", d, "-c", "{file}"], validateInPlace: false,
                start: ["nginx", "-e", d + "/error.log", "-p", d, "-c", conf],
                reload: ["nginx", "-e", d + "/error.log", "-p", d, "-c", conf, "-s", "reload"],
                running: pidAlive(d + "/nginx.pid"), stop: killPid(d + "/nginx.pid"))
        case (.haproxy, .sandbox):
            let conf = lb.configPath ?? d + "/haproxy.cfg"
            let pid = d + "/haproxy.pid"
            return LoadBalancerLayout(
                configPath: conf, block: false, validate: ["haproxy", "-c", "-q", "-f", "{file}"], validateInPlace: false,
                start: ["haproxy", "-D", "-f", conf, "-p", pid],
                reload: ["sh", "-c", "exec haproxy -D -f \"$1\" -p \"$2\" -sf $(cat \"$2\")", "sh", conf, pid],
                running: pidAlive(pid), stop: killPid(pid))
        case (.nginx, .debian):
            // Debian's nginx.conf includes modules-enabled/*.conf at the top level, after the stream
            // module's own load line (50-mod-stream.conf): a `stream` block must sit there, outside `http`.
            return LoadBalancerLayout(
                configPath: lb.configPath ?? "/etc/nginx/modules-enabled/60-rabbit-wizard-stream.conf", block: false,
                validate: ["nginx", "-t", "-q"], validateInPlace: true,
                start: ["service", "nginx", "start"], reload: ["service", "nginx", "reload"],
                running: ["service", "nginx", "status"], stop: ["service", "nginx", "stop"])
        case (.haproxy, .debian):
            return LoadBalancerLayout(
                configPath: lb.configPath ?? "/etc/haproxy/haproxy.cfg", block: true,
                validate: ["haproxy", "-c", "-q", "-f", "{file}"], validateInPlace: false,
                start: ["service", "haproxy", "start"], reload: ["service", "haproxy", "reload"],
                running: ["service", "haproxy", "status"], stop: ["service", "haproxy", "stop"])
        }
    }
}

/// Generates the load balancer configuration for all cluster nodes. Every value in it comes from
/// validated types (host names, ports, paths without `; { } #`), so nothing can inject a directive.
public enum LoadBalancerConfig {
    /// The nginx `stream` block, as in the seed guide, with every node; passive checks take a refused or
    /// silent node out for 10 s while `proxy_next_upstream` (on by default) sends the client to the next.
    public static func nginxStream(_ t: Topology, _ lb: LoadBalancerSpec) -> String {
        let servers = t.nodes.map { "        server \($0.host):\($0.amqpPort) max_fails=1 fail_timeout=10s;" }.joined(separator: "\n")
        return """
            stream {
                upstream rabbitmq_cluster {
            \(servers)
                }
                server {
                    listen \(lb.listenAddress):\(lb.listenPort);
                    proxy_pass rabbitmq_cluster;
                    proxy_timeout \(lb.idleTimeout)s;
                    proxy_connect_timeout 2s;
                    proxy_next_upstream on;
                    proxy_next_upstream_tries \(t.nodes.count);
                }
            }

            """
    }

    /// A whole nginx.conf for an unprivileged nginx running from `dir` (the sandbox).
    public static func nginxMain(_ t: Topology, _ lb: LoadBalancerSpec, dir: String) -> String {
        """
        # Managed by rabbit-wizard: the TCP load balancer in front of the RabbitMQ cluster.
        load_module \(dir)/modules/ngx_stream_module.so;
        pid \(dir)/nginx.pid;
        error_log \(dir)/error.log notice;
        worker_processes 1;
        events {
            worker_connections 1024;
        }

        """ + nginxStream(t, lb)
    }

    /// The HAProxy section: TCP mode, an AMQP-aware health check (protocol header out, Connection.Start
    /// back), a dead node out of rotation after two failed checks 1 s apart, and `option redispatch` so
    /// that a connection refused by one node is retried on another.
    public static func haproxyListen(_ t: Topology, _ lb: LoadBalancerSpec) -> String {
        let servers = t.nodes.map { "    server \($0.name) \($0.host):\($0.amqpPort) check inter 1s fastinter 500ms downinter 2s fall 2 rise 2" }
            .joined(separator: "\n")
        return """
            listen rabbitmq
                bind \(lb.listenAddress):\(lb.listenPort)
                mode tcp
                balance roundrobin
                option redispatch
                retries 3
                timeout connect 2s
                timeout client \(lb.idleTimeout)s
                timeout server \(lb.idleTimeout)s
                timeout check 2s
                option tcp-check
                tcp-check connect
                tcp-check send-binary 414d515000000901
                tcp-check expect binary 000a000a
            \(servers)

            """
    }

    public static func haproxyMain(_ t: Topology, _ lb: LoadBalancerSpec) -> String {
        """
        # Managed by rabbit-wizard: the TCP load balancer in front of the RabbitMQ cluster.
        global
            maxconn 4096

        defaults
            mode tcp
            timeout connect 2s
            timeout client \(lb.idleTimeout)s
            timeout server \(lb.idleTimeout)s

        """ + haproxyListen(t, lb)
    }

    /// The bytes the managed file should hold, given what it holds now (a marker block is replaced in
    /// place, or appended; every other byte kept).
    public static func desired(_ t: Topology, _ lb: LoadBalancerSpec, layout: LoadBalancerLayout, current: [UInt8]) -> [UInt8] {
        let body: String
        switch (lb.kind, lb.profile, layout.block) {
        case (.nginx, .sandbox, _): body = nginxMain(t, lb, dir: lb.sandboxDir ?? "")
        case (.nginx, .debian, _): body = "# Managed by rabbit-wizard: the TCP load balancer in front of the RabbitMQ cluster.\n" + nginxStream(t, lb)
        case (.haproxy, _, false): body = haproxyMain(t, lb)
        case (.haproxy, _, true): return replacingBlock(in: current, with: haproxyListen(t, lb))
        }
        return Array(body.utf8)
    }

    static func replacingBlock(in current: [UInt8], with body: String) -> [UInt8] {
        let text = String(decoding: current, as: UTF8.self)
        let block = LoadBalancerLayout.markerBegin + "\n" + body + LoadBalancerLayout.markerEnd + "\n"
        if let begin = text.range(of: LoadBalancerLayout.markerBegin), let end = text.range(of: LoadBalancerLayout.markerEnd + "\n", range: begin.upperBound..<text.endIndex) {
            return Array((text[..<begin.lowerBound] + block + text[end.upperBound...]).utf8)
        }
        let sep = text.isEmpty || text.hasSuffix("\n") ? "" : "\n"
        return Array((text + sep + "\n" + block).utf8)
    }
}
