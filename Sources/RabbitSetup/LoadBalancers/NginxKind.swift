/// nginx with the stream module: a whole file of its own (Debian's modules-enabled, read at the top level
/// of nginx.conf) or, in the sandbox, a whole nginx.conf for an unprivileged nginx.
public struct NginxKind: LoadBalancerKind {
    public init() {}
    public var name: String { "nginx" }
    public var program: String { "nginx" }
    public var packages: [String] { ["nginx-light", "libnginx-mod-stream"] }

    public func requiredFiles(for lb: LoadBalancerSpec) -> [RequiredFile] {
        let module = switch lb.profile {
        case .sandbox: "\(lb.sandboxDir ?? "")/modules/ngx_stream_module.so"
        default: "/usr/lib/nginx/modules/ngx_stream_module.so"
        }
        return [RequiredFile(path: module, finding: "nginx-stream-missing", what: "the nginx stream module", package: "libnginx-mod-stream")]
    }

    public func layout(for lb: LoadBalancerSpec) -> LoadBalancerLayout {
        let d = lb.sandboxDir ?? ""
        switch lb.profile {
        case .sandbox:
            let conf = lb.configPath ?? d + "/nginx.conf"
            return LoadBalancerLayout(
                configPath: conf, block: false,
                validate: ["nginx", "-t", "-q", "-e", d + "/error.log", "-p", d, "-c", "{file}"], validateInPlace: false,
                start: ["nginx", "-e", d + "/error.log", "-p", d, "-c", conf],
                reload: ["nginx", "-e", d + "/error.log", "-p", d, "-c", conf, "-s", "reload"],
                running: LoadBalancerLayout.pidAlive(d + "/nginx.pid"), stop: LoadBalancerLayout.killPid(d + "/nginx.pid"))
        default:
            // Debian's nginx.conf includes modules-enabled/*.conf at the top level, after the stream
            // module's own load line (50-mod-stream.conf): a `stream` block must sit there, outside `http`.
            return LoadBalancerLayout(
                configPath: lb.configPath ?? "/etc/nginx/modules-enabled/60-rabbit-wizard-stream.conf", block: false,
                validate: ["nginx", "-t", "-q"], validateInPlace: true,
                start: ["service", "nginx", "start"], reload: ["service", "nginx", "reload"],
                running: ["service", "nginx", "status"], stop: ["service", "nginx", "stop"], pidFile: "/run/nginx.pid")
        }
    }

    public func configuration(_ t: Topology, _ lb: LoadBalancerSpec, layout: LoadBalancerLayout, current: [UInt8]) -> [UInt8] {
        switch lb.profile {
        case .sandbox: Array(NginxKind.nginxMain(t, lb, dir: lb.sandboxDir ?? "").utf8)
        default: Array((LoadBalancerLayout.managedHeader + NginxKind.nginxStream(t, lb)).utf8)
        }
    }

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

}
