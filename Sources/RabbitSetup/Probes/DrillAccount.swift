import Executor
import Foundation
import Workflow

/// The login of the failover drill's and `watch --messages`'s clients: a user of their own (a random
/// password, on `rabbitmqctl`'s stdin, registered with the executor as a secret, never kept) with full
/// rights in a vhost of their own, added on the seed before the clients connect and removed after them. A
/// vhost that was there before is kept; a user left by a run that was cut off is replaced.
public struct DrillAccount: Sendable {
    public static let vhost = "rabbit-wizard-drill"
    public static let user = "rabbit-wizard-drill"

    let seed: RabbitNode
    public let password: Secret
    /// Whether the vhost was made here (then ``remove()`` removes it).
    let madeVhost: Bool

    /// Adds the vhost (unless there) and the user on `seed`.
    public static func add(on seed: RabbitNode, progress: @Sendable (String) -> Void) async throws(StepFailure) -> DrillAccount {
        progress("adding the drill's vhost \(vhost) and user \(user)")
        let password = Secret(bytes: Array(randomPassword().utf8))
        seed.executor.register(secret: password)
        let vhosts = try await seed.ctlChecked(["list_vhosts", "name", "--quiet", "--no-table-headers"], doing: "list the vhosts", mutates: false)
        let made = !vhosts.split(separator: "\n").contains { $0.trimmingCharacters(in: .whitespaces) == vhost }
        if made { try await seed.ctlChecked(["add_vhost", vhost], doing: "add the drill's vhost", mutates: true) }
        _ = await seed.ctl(["delete_user", user], mutates: true)
        // The CLI reads the password from stdin when it is not on the command line.
        let added = await seed.ctl(["add_user", user], stdin: .secret(Secret(bytes: password.withBytes { $0 } + [0x0A])), secrets: [password], mutates: true)
        guard added.succeeded else { throw RabbitCLIError.failure(added, doing: "add the drill's user", node: seed.spec.nodeName, on: seed.spec) }
        try await seed.ctlChecked(["set_permissions", "-p", vhost, user, ".*", ".*", ".*"], doing: "give the drill's user its vhost", mutates: true)
        return DrillAccount(seed: seed, password: password, madeVhost: made)
    }

    /// Where the clients log in: through `lb`, as this user, in this vhost.
    public func endpoint(through lb: LoadBalancerSpec) -> MessagePath.Endpoint {
        .init(host: lb.clientHost, port: lb.listenPort, user: Self.user, password: password, vhost: Self.vhost)
    }

    /// Removes the user, and the vhost when it was made here.
    public func remove() async {
        _ = await seed.ctl(["delete_user", Self.user], mutates: true)
        if madeVhost { _ = await seed.ctl(["delete_vhost", Self.vhost], mutates: true) }
    }

    static func randomPassword() -> String {
        let letters = Array("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        var rng = SystemRandomNumberGenerator()
        return String((0..<32).map { _ in letters[Int(rng.next(upperBound: UInt64(letters.count)))] })
    }
}
