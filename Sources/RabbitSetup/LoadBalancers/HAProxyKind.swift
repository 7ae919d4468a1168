/// HAProxy: a block between markers in the distribution's own haproxy.cfg (its global and defaults
/// sections are the administrator's), or a whole file in the sandbox.
public struct HAProxyKind: LoadBalancerKind {
    public init() {}
    public var name: String { "haproxy" }
    public var program: String { "haproxy" }
    public var packages: [String] { ["haproxy"] }

    public func requiredFiles(for lb: LoadBalancerSpec) -> [RequiredFile] { [] }

    public func layout(for lb: LoadBalancerSpec) -> LoadBalancerLayout {
        let d = lb.sandboxDir ?? ""
        switch lb.profile {
        case .sandbox:
            let conf = lb.configPath ?? d + "/haproxy.cfg"
            let pid = d + "/haproxy.pid"
            return LoadBalancerLayout(
                configPath: conf, block: false, validate: ["haproxy", "-c", "-q", "-f", "{file}"], validateInPlace: false,
                start: ["haproxy", "-D", "-f", conf, "-p", pid],
                reload: ["sh", "-c", "exec haproxy -D -f \"$1\" -p \"$2\" -sf $(cat \"$2\")", "sh", conf, pid],
                running: LoadBalancerLayout.pidAlive(pid), stop: LoadBalancerLayout.killPid(pid))
        default:
            return LoadBalancerLayout(
                configPath: lb.configPath ?? "/etc/haproxy/haproxy.cfg", block: true,
                validate: ["haproxy", "-c", "-q", "-f", "{file}"], validateInPlace: false,
                start: ["service", "haproxy", "start"], reload: ["service", "haproxy", "reload"],
                running: ["service", "haproxy", "status"], stop: ["service", "haproxy", "stop"], pidFile: "/run/haproxy.pid")
        }
    }

    public func configuration(_ t: Topology, _ lb: LoadBalancerSpec, layout: LoadBalancerLayout, current: [UInt8]) -> [UInt8] {
        layout.block ? LoadBalancerConfig.replacingBlock(in: current, with: HAProxyKind.haproxyListen(t, lb)) : Array(HAProxyKind.haproxyMain(t, lb).utf8)
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

}
