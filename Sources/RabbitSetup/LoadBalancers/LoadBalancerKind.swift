import Executor
import Workflow

/// One kind of TCP load balancer, as a value: its program, packages, the files it needs, where its
/// configuration lives and how it is checked and controlled on each profile (``LoadBalancerLayout``),
/// and the configuration it gets. The load-balancer step and the failover drill use only this, so a
/// new kind is one file plus its line in ``LoadBalancerKinds/standard``. A load balancer's platform is one
/// of ``PlatformProfile/forLoadBalancers``: the kinds lay out the sandbox's folder, and Debian's packages
/// for the other.
public protocol LoadBalancerKind: Sendable {
    /// As written in a topology (`kind: nginx`).
    var name: String { get }
    /// The program that must be installed on the load balancer's host.
    var program: String { get }
    /// What installs it there (for the fix of `lb-missing`).
    var packages: [String] { get }
    /// Files the kind needs besides its program (a module), each with the finding its absence is.
    func requiredFiles(for lb: LoadBalancerSpec) -> [RequiredFile]
    func layout(for lb: LoadBalancerSpec) -> LoadBalancerLayout
    /// The bytes the managed file should hold, given what it holds now (a block of someone else's file
    /// is replaced in place or appended; every other byte kept).
    func configuration(_ topology: Topology, _ lb: LoadBalancerSpec, layout: LoadBalancerLayout, current: [UInt8]) -> [UInt8]
}

/// A file a load balancer kind needs; its absence is the finding `finding`, fixed by installing `package`.
public struct RequiredFile: Sendable, Equatable {
    public var path: String
    public var finding: String
    public var what: String
    public var package: String

    public init(path: String, finding: String, what: String, package: String) {
        self.path = path
        self.finding = finding
        self.what = what
        self.package = package
    }
}

/// The kinds a topology may name.
public enum LoadBalancerKinds {
    public static let standard: [any LoadBalancerKind] = [NginxKind(), HAProxyKind()]

    public static func named(_ name: String) -> (any LoadBalancerKind)? { standard.first { $0.name == name } }

    /// "nginx or haproxy", for errors and help.
    public static var names: String {
        let all = standard.map(\.name)
        return all.count <= 1 ? all.joined() : all.dropLast().joined(separator: ", ") + " or " + all.last!
    }
}

extension LoadBalancerSpec {
    /// The load balancer's server, as its profile reaches it (the load-balancer step and the drill).
    public func server(executor: Executor, step: StepID?) -> any ServerHost {
        PlatformProfile.named(profile).host(executor: executor, target: target, step: step)
    }
}
