import Foundation
import Glibc

/// A topology as the setup screen fills it in: field paths (`nodes[1].host`) to values, written as the
/// topology file's YAML and checked by the same parser as a file, so the screen and `--config` agree on
/// every rule (host names, ports, duplicates, the seed).
public enum TopologyDraft {
    /// The per-node fields, in the order the form shows them.
    public static let nodeFields = ["name", "host", "node_name", "reach"]
    public static let loadBalancerFields = ["kind", "host", "listen_port", "reach"]

    /// Why the topology file could not be written; `errno` as the failing call left it.
    public enum WriteError: Error, Sendable, Equatable {
        /// It could not be created (`EEXIST`: a file is there already, and one is never overwritten).
        case cannotCreate(String, errno: Int32)
        /// Created but not written whole (a full disk); the partial file was removed.
        case cannotWrite(String, errno: Int32)
    }

    /// Writes the topology file for these values at `path`, created exclusively (never over an existing
    /// file, never through a symlink) with mode 0600 and synced; a file not written whole is removed, since
    /// it would block the next try.
    public static func write(_ values: [String: String], nodes: Int, to path: String) throws(WriteError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .cannotCreate(path, errno: errno) }
        let bytes = Array(yaml(values, nodes: nodes).utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        var code = written < 0 ? errno : written < bytes.count ? ENOSPC : 0
        if code == 0 && fsync(fd) != 0 { code = errno }
        close(fd)
        guard code == 0 else {
            unlink(path)
            throw .cannotWrite(path, errno: code)
        }
    }

    /// The topology file for these values: every string double-quoted, empty optional values left out,
    /// the load balancer only when its kind is not `none`. `nodes` is the number of node blocks.
    public static func yaml(_ values: [String: String], nodes: Int) -> String {
        func v(_ key: String) -> String { values[key]?.trimmingCharacters(in: .whitespaces) ?? "" }
        func q(_ s: String) -> String {
            "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        func number(_ s: String) -> String { !s.isEmpty && s.allSatisfy(\.isASCII) && s.allSatisfy(\.isNumber) ? s : q(s) }
        var out = ["# Written by the rabbit-wizard setup screen; see Resources/topology.example.yml for every key.", "cluster:"]
        if !v("cluster.seed").isEmpty { out.append("  seed: \(q(v("cluster.seed")))") }
        out.append("  partition_handling: \(q(v("cluster.partition_handling")))")
        out.append("nodes:")
        for i in 0..<nodes {
            var first = true
            for f in nodeFields {
                let value = v("nodes[\(i)].\(f)")
                if value.isEmpty && f == "node_name" { continue }
                out.append("\(first ? "  - " : "    ")\(f): \(q(value))")
                first = false
            }
            // A node's own profile, else the form's choice for all servers, else the default.
            let profile = [v("nodes[\(i)].profile"), v("servers"), ProfileName.standard.rawValue].first { !$0.isEmpty }!
            out.append("    profile: \(q(profile))")
        }
        let kind = v("load_balancer.kind")
        if !kind.isEmpty && kind != "none" {
            out.append("load_balancer:")
            // The site's own load balancer is an address only: nothing to reach, no platform.
            let external = kind == LoadBalancerSpec.external
            for f in loadBalancerFields where !(external && f == "reach") {
                let value = v("load_balancer.\(f)")
                out.append("  \(f): \(f == "listen_port" ? number(value) : q(value))")
            }
            if !external {
                out.append("  profile: \(q(v("load_balancer.profile").isEmpty ? ProfileName.standard.rawValue : v("load_balancer.profile")))")
            }
        }
        return out.joined(separator: "\n") + "\n"
    }

    /// What is wrong with these values, as the topology file's parser sees it; empty when they make a
    /// valid topology.
    public static func problems(_ values: [String: String], nodes: Int) -> [TopologyProblem] {
        do {
            _ = try TopologyParser.parse(yaml(values, nodes: nodes), file: "setup")
            return []
        } catch {
            switch error {
            case .invalid(_, let problems): return problems
            case .syntax(_, let why): return [TopologyProblem(field: "(file)", message: why, fix: "remove unusual characters")]
            case .unreadable(_, let why): return [TopologyProblem(field: "(file)", message: why, fix: "")]
            }
        }
    }
}
