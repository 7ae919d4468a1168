import Executor
import Workflow

/// `outsystems-handoff`: the values for the Configuration Tool's Cache tab, and (with a password) the
/// vhost, the user and its permissions on the cluster, verified by a real AMQP login through the load
/// balancer. The password is a secret: it comes from a file or stdin, goes to `rabbitmqctl` on stdin,
/// and is checked against the characters OutSystems rejects.
public struct OutSystemsHandoffStep: Step {
    public let id: StepID = "outsystems-handoff"
    public let title = "hand the cache settings over to OutSystems"
    public let topology: Topology
    public let lb: LoadBalancerSpec
    public static let passwordKey = "outsystems-password"
    /// Characters the OutSystems Configuration Tool does not accept in the cache password.
    public static let rejected: Set<Character> = ["?", "&", "^", "\"", "'", "*", "(", ")"]
    public var findingNames: [String] { ["outsystems-cache-tab", "outsystems-no-password", "outsystems-password-characters"] }
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

    public func check(_ context: StepContext) async throws(StepFailure) -> [Finding] {
        var out = [Finding("outsystems-cache-tab", .info, message:
            "Configuration Tool > Cache: " + cacheTab.map { "\($0.label) \($0.value)" }.joined(separator: ", ")
            + "; then 'Re-apply settings' to every module in the factory")]
        guard let password = context.secrets[Self.passwordKey] else {
            out.append(Finding("outsystems-no-password", .warning, message: "no password given: the vhost and user are not created",
                               fix: "pass --outsystems-password-file FILE (or --outsystems-password-stdin)"))
            return out
        }
        password.withBytes { bytes in
            let text = String(decoding: bytes, as: UTF8.self)
            if text.isEmpty || text.contains(where: { Self.rejected.contains($0) || $0.isNewline }) {
                out.append(Finding("outsystems-password-characters", .error,
                                   message: "the password is empty or has a character OutSystems rejects (? & ^ \" ' * ( ) or a line break)",
                                   fix: "choose a password without them"))
            }
        }
        return out
    }

    func observe(_ context: StepContext) async throws(StepFailure) -> (vhost: Bool, user: Bool) {
        let seed = seed(context)
        let vhosts = try await seed.ctlChecked(["list_vhosts", "-q", "--formatter", "json"], doing: "list vhosts", mutates: false)
        let users = try await seed.ctlChecked(["list_users", "-q", "--formatter", "json"], doing: "list users", mutates: false)
        return (vhosts.contains("\"\(os.vhost)\""), users.contains("\"\(os.username)\""))
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
