import Executor
import Foundation
import Workflow

/// `outsystems-handoff`: the values for the Configuration Tool's Cache tab, and (with a password) the
/// vhost, the user and its permissions on the cluster, verified by a real AMQP login through the load
/// balancer. The password is a secret: it comes from a file or stdin, goes to `rabbitmqctl` on stdin,
/// and is checked against the characters OutSystems rejects.
public struct OutSystemsHandoffStep: Step {
    public let id: StepID = .outSystemsHandoff
    public let title = "hand the cache settings over to OutSystems"
    public let topology: Topology
    public let lb: LoadBalancerSpec
    public static let passwordKey = "outsystems-password"
    /// The cache password as the OutSystems Configuration Tool takes it: none of `? & ^ " ' * ( )`, no line
    /// break, not empty; longer than 1024 bytes is not a password (a wrong file given by mistake).
    public static let passwordRule = SecretRule(rejected: ["?", "&", "^", "\"", "'", "*", "(", ")"], rejectedBy: "OutSystems", maxBytes: 1024)
    public var findingNames: [String] { ["outsystems-cache-tab", "outsystems-vhost-case", "outsystems-no-password", "outsystems-password-characters"] }
    public var rollbackScope: RollbackScope { .partial("nothing it did not create: an existing vhost or user is left as it was") }

    public init(topology: Topology, loadBalancer: LoadBalancerSpec) {
        self.topology = topology
        self.lb = loadBalancer
    }

    struct Saved: Codable {
        var createdVhost: Bool
        var createdUser: Bool
    }

    var os: OutSystemsSpec { topology.outsystems }
    func seed(_ context: StepContext) -> RabbitNode { RabbitNode(topology.seed, executor: context.executor, step: id) }

    /// The Cache tab's values, as every front end shows them: Host is the address the wizard itself
    /// connects to and verifies the login through (the listen address, or the host's name behind a
    /// wildcard listen address).
    public var cacheTab: [(label: String, value: String)] {
        [("Host", lb.clientHost), ("Port", "\(lb.listenPort)"), ("Virtual Host", os.vhost), ("Username", os.username)]
    }

    /// What the operator is told to do in the Configuration Tool. Its Cache tab's "Create/Upgrade Service"
    /// installs or upgrades the RabbitMQ that OutSystems ships on that server; for a RabbitMQ it did not
    /// install (this cluster) OutSystems shows an error or a disclaimer (11.17.1, 11.18.0), and its HA
    /// upgrade procedure is manual: so the button is not to be pressed.
    static func cacheTabAdvice(_ tab: [(label: String, value: String)]) -> String {
        "Configuration Tool > Cache: " + tab.map { "\($0.label) \($0.value)" }.joined(separator: ", ")
            + "; then 'Re-apply settings' to every module in the factory. Do not press 'Create/Upgrade Service' on that tab: "
            + "it installs or upgrades the RabbitMQ OutSystems ships on that server, not this cluster"
    }

    public func check(_ context: StepContext) async throws(StepFailure) -> [Finding] {
        var out = [Finding("outsystems-cache-tab", .info, message: Self.cacheTabAdvice(cacheTab))]
        // Vhost names are case-sensitive, and both /outsystems (OutSystems' default) and /OutSystems (older
        // install scripts) exist in the field: a vhost that differs only in case is most likely the one the
        // factory uses. Unreadable here (a node not up yet): plan reads the vhosts and says why.
        if let names = try? await vhostNames(context) {
            let near = names.filter { $0 != os.vhost && $0.lowercased() == os.vhost.lowercased() }
            if !near.isEmpty && !names.contains(os.vhost) {
                out.append(Finding("outsystems-vhost-case", .warning,
                                   message: "the cluster has the vhost \(near.joined(separator: ", ")), the topology names \(os.vhost): vhost names are "
                                       + "case-sensitive, and OutSystems connects to the one its Cache tab names",
                                   fix: "set outsystems.vhost in the topology to the Virtual Host the factory's Cache tab uses, "
                                       + "or waive outsystems-vhost-case to create \(os.vhost) as well"))
            }
        }
        guard let password = context.secrets[Self.passwordKey] else {
            out.append(Finding("outsystems-no-password", .warning, message: "no password given: the vhost and user are not created",
                               fix: "pass --outsystems-password-file FILE (or --outsystems-password-stdin)"))
            return out
        }
        if let problem = password.withBytes({ Self.passwordRule.problem(String(decoding: $0, as: UTF8.self)) }) {
            out.append(Finding("outsystems-password-characters", .error, message: "the password cannot be used: \(problem)",
                               fix: "choose a password: \(Self.passwordRule.requirement)"))
        }
        return out
    }

    /// The names in `list_vhosts` / `list_users` JSON (`[{"name":"/"}, ...]`, `[{"user":"guest", ...}]`).
    static func names(_ json: String, key: String) -> [String]? {
        guard let start = json.firstIndex(of: "["),
            let rows = try? JSONSerialization.jsonObject(with: Data(json[start...].utf8)) as? [[String: Any]]
        else { return nil }
        return rows.compactMap { $0[key] as? String }
    }

    /// `rabbitmqctl list_WHAT` on the seed, the names in it (`key` of each row).
    func list(_ what: String, key: String, _ context: StepContext) async throws(StepFailure) -> [String] {
        let out = try await seed(context).ctlChecked(["list_\(what)", "-q", "--formatter", "json"], doing: "list \(what)", mutates: false)
        guard let names = Self.names(out, key: key) else {
            throw StepFailure("cannot read the \(what) of \(topology.seed.nodeName): \(out.prefix(200))", fix: "run rabbitmqctl list_\(what) on it")
        }
        return names
    }

    func vhostNames(_ context: StepContext) async throws(StepFailure) -> [String] { try await list("vhosts", key: "name", context) }

    func observe(_ context: StepContext) async throws(StepFailure) -> (vhost: Bool, user: Bool) {
        (try await vhostNames(context).contains(os.vhost), try await list("users", key: "user", context).contains(os.username))
    }

    /// Without a password nothing is created and no login can be checked: the plan says so (the step is
    /// then not done; the Cache tab values are shown by ``check(_:)``).
    static let unchecked = "values shown; login not checked: give --outsystems-password-file FILE (or --outsystems-password-stdin)"

    public func plan(_ context: StepContext) async throws(StepFailure) -> Plan {
        guard context.secrets[Self.passwordKey] != nil else { return Plan(step: id, changes: [], unchecked: Self.unchecked) }
        let (vhost, user) = try await observe(context)
        var changes: [Change] = []
        if !vhost { changes.append(Change(.add, target: "vhost \(os.vhost)", summary: "add_vhost")) }
        if !user {
            changes.append(Change(.add, target: "user \(os.username)", summary: "add_user, password from the secret", secret: true))
            changes.append(Change(.add, target: "permissions \(os.username) on \(os.vhost)", summary: "configure, write, read: .*"))
        }
        return Plan(step: id, changes: changes)
    }

    public func prepare(_ plan: Plan, _ context: StepContext) async throws(StepFailure) -> Undo {
        let (vhost, user) = try await observe(context)
        return try UndoCoding.encode(Saved(createdVhost: !vhost, createdUser: !user))
    }

    public func apply(_ plan: Plan, prepared: Undo, _ context: StepContext) async throws(StepFailure) -> Undo {
        guard let password = context.secrets[Self.passwordKey] else { return prepared }
        let seed = seed(context)
        let (vhost, user) = try await observe(context)
        if !vhost { try await seed.ctlChecked(["add_vhost", os.vhost], doing: "add the vhost", mutates: true) }
        if !user {
            // The CLI reads the password from stdin when it is not on the command line.
            let r = await seed.ctl(["add_user", os.username], stdin: .secret(Secret(bytes: password.withBytes { $0 } + [0x0A])),
                                   secrets: [password], mutates: true)
            guard r.succeeded else { throw RabbitCLIError.failure(r, doing: "add the user", node: seed.spec.nodeName, on: seed.spec) }
            try await seed.ctlChecked(["set_permissions", "-p", os.vhost, os.username, ".*", ".*", ".*"], doing: "set the permissions", mutates: true)
        }
        return prepared
    }

    /// A real login with those credentials and that vhost, through the load balancer.
    public func verify(_ context: StepContext) async throws(StepFailure) {
        guard let password = context.secrets[Self.passwordKey] else {
            throw StepFailure("the OutSystems login was not checked: no password was given",
                              fix: "give --outsystems-password-file FILE (or --outsystems-password-stdin)")
        }
        let host = lb.clientHost, port = lb.listenPort, user = os.username, vhost = os.vhost
        do {
            _ = try await Task.detached { () throws(AMQPProbe.Failure) -> AMQPProbe.ServerInfo in
                try AMQPProbe(host: host, port: port).login(user: user, password: password, vhost: vhost)
            }.value
        } catch {
            throw StepFailure("the OutSystems login through \(host):\(port) failed: \(error)",
                              fix: "check the user's password and permissions on \(vhost)", retryable: true)
        }
    }

    public func rollback(_ undo: Undo, _ context: StepContext) async throws(StepFailure) {
        let saved = try UndoCoding.decode(Saved.self, undo)
        let seed = seed(context)
        let (vhost, user) = try await observe(context)
        if saved.createdUser && user { try await seed.ctlChecked(["delete_user", os.username], doing: "delete the user", mutates: true) }
        if saved.createdVhost && vhost { try await seed.ctlChecked(["delete_vhost", os.vhost], doing: "delete the vhost", mutates: true) }
    }
}

extension StepID {
    /// ``OutSystemsHandoffStep``'s id: the one place it is spelled.
    public static let outSystemsHandoff: StepID = "outsystems-handoff"
}
