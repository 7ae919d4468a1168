import Testing

@testable import RabbitSetup

/// What every node's `cluster_status` adds up to. The real partition (a split cut longer than the net
/// tick time, then autoheal) runs on the multi-host bed in `debianHostsOverSSH`.
struct ClusterViewTests {
    static let a = "rabbit@ServerA", b = "rabbit@ServerB", c = "rabbit@ServerC"

    static func sees(_ running: [String], partitions: [String: [String]] = [:]) -> ClusterView.Seen {
        .status(ClusterStatus(runningNodes: running, diskNodes: [a, b, c], partitions: partitions))
    }

    @Test func everyNodeSeesAllIsHealthy() {
        let view = ClusterView(seen: [Self.a: Self.sees([Self.a, Self.b, Self.c]), Self.b: Self.sees([Self.c, Self.b, Self.a]), Self.c: Self.sees([Self.a, Self.b, Self.c])])
        #expect(view.verdict == .healthy(running: 3))
        #expect(view.summary(strategy: .autoheal).hasPrefix("3 of 3 nodes running"))
    }

    /// Both sides run, neither sees the other: a partition before anything recorded it.
    @Test func sidesThatRunWithoutEachOtherAreAPartition() {
        let view = ClusterView(seen: [Self.a: Self.sees([Self.a, Self.b]), Self.b: Self.sees([Self.a, Self.b]), Self.c: Self.sees([Self.c])])
        #expect(view.verdict == .partitioned(sides: [[Self.a, Self.b], [Self.c]], recorded: false))
        let text = view.summary(strategy: .autoheal)
        #expect(text.contains("NETWORK PARTITION: rabbit@ServerA, rabbit@ServerB | rabbit@ServerC") && text.contains("autoheal"), "\(text)")
        #expect(view.summary(strategy: .ignore).contains("nothing repairs it"))
    }

    @Test func aPartitionRabbitMQRecordedCountsEvenWhenEveryoneRunsAgain() {
        let view = ClusterView(seen: [Self.a: Self.sees([Self.a, Self.b, Self.c], partitions: [Self.a: [Self.c]]),
                                      Self.b: Self.sees([Self.a, Self.b, Self.c]), Self.c: Self.sees([Self.a, Self.b, Self.c])])
        #expect(view.verdict == .partitioned(sides: [], recorded: true))
        let text = view.summary(strategy: .autoheal)
        #expect(text.contains("RabbitMQ recorded it (rabbit@ServerA apart from rabbit@ServerC)") && text.contains("if it stays recorded, restart"), "\(text)")
    }

    /// Nodes that were never joined run apart, but none counts another as a member: separate clusters, not a
    /// partition (status called two fresh sandbox nodes a NETWORK PARTITION before the join).
    @Test func nodesThatNeverJoinedAreSeparateClustersNotAPartition() {
        let alone = { (node: String) in ClusterView.Seen.status(ClusterStatus(runningNodes: [node], diskNodes: [node])) }
        let fresh = ClusterView(seen: [Self.a: alone(Self.a), Self.b: alone(Self.b)])
        #expect(fresh.verdict == .separate(clusters: [[Self.a], [Self.b]]))
        let text = fresh.summary(strategy: .autoheal)
        #expect(text == "not one cluster yet: rabbit@ServerA | rabbit@ServerB run as separate clusters (cluster-join makes them one)", "\(text)")
        // Half way through the join: two joined, the third not yet.
        let pair = ClusterView.Seen.status(ClusterStatus(runningNodes: [Self.a, Self.b], diskNodes: [Self.a, Self.b]))
        #expect(ClusterView(seen: [Self.a: pair, Self.b: pair, Self.c: alone(Self.c)]).verdict == .separate(clusters: [[Self.a, Self.b], [Self.c]]))
        // The same sides where one node still counts the other side as members: a partition.
        let remembers = ClusterView.Seen.status(ClusterStatus(runningNodes: [Self.c], diskNodes: [Self.a, Self.b, Self.c]))
        #expect(ClusterView(seen: [Self.a: pair, Self.b: pair, Self.c: remembers]).verdict == .partitioned(sides: [[Self.a, Self.b], [Self.c]], recorded: false))
    }

    /// A node that cannot be read and is missing from the others' views: stopped or cut off, which from
    /// here look the same; never called a partition.
    @Test func aNodeDownOrCutOffIsDegradedNotPartitioned() {
        let view = ClusterView(seen: [Self.a: Self.sees([Self.a, Self.b]), Self.b: Self.sees([Self.a, Self.b]), Self.c: .unreadable("ssh: connection timed out")])
        #expect(view.verdict == .degraded(missing: [Self.a: [Self.c], Self.b: [Self.c]], unreadable: [Self.c: "ssh: connection timed out"]))
        let text = view.summary(strategy: .autoheal)
        #expect(text.contains("rabbit@ServerC not running as seen from rabbit@ServerA, rabbit@ServerB"), "\(text)")
        #expect(text.contains("look the same"))
    }

    /// Views that overlap (one node still joining, or a cut being detected) are not two sides.
    @Test(arguments: [
        [a: [a, b], b: [a, b, c], c: [a, b, c]],
        [a: [a, b], b: [a, b, c], c: [b, c]],
    ])
    func overlappingViewsAreDegraded(views: [String: [String]]) {
        let view = ClusterView(seen: views.mapValues { Self.sees($0) })
        guard case .degraded(let missing, let unreadable) = view.verdict else {
            Issue.record("\(view.verdict)")
            return
        }
        #expect(!missing.isEmpty && unreadable.isEmpty)
    }
}
