import Testing

@testable import RabbitSetup

/// Which side the guided repair restarts, from what each node answered (the real-node run is in
/// ``NetworkBedTests``, `partitionRepairedByTheGuidedRepair`): the rule per strategy, ties, the
/// operator's choice, and refusals.
@Suite struct PartitionRepairTests {
    static let (a, b, c) = ("rabbit@A", "rabbit@B", "rabbit@C")

    static func view(_ answers: [String: ClusterView.Seen]) -> ClusterView { ClusterView(seen: answers) }
    static func s(_ running: [String], apartFrom: [String] = [], node: String) -> ClusterView.Seen {
        .status(ClusterStatus(runningNodes: running, diskNodes: [a, b, c], partitions: apartFrom.isEmpty ? [:] : [node: apartFrom]))
    }

    /// Every node's answer as RabbitMQ builds it: `running_nodes` as given, and `partitions` with the record of
    /// every node it runs with (`rabbit_mnesia:status/0` asks each running node's `rabbit_node_monitor` for its
    /// list and keeps the non-empty ones), so a view holds the records of others besides its own.
    static func rabbitViews(running: [String: [String]], records: [String: [String]]) -> ClusterView {
        view(running.mapValues { nodes in
            .status(ClusterStatus(runningNodes: nodes, diskNodes: [a, b, c],
                                  partitions: records.filter { nodes.contains($0.key) && !$0.value.isEmpty }))
        })
    }

    /// A cut between A and B that RabbitMQ widened into A | B, C (a node that sees another go down while a
    /// third still sees it disconnects from the third as well, in `rabbit_node_monitor`; which of A and B does
    /// so first varies from run to run): once they meet again every node runs with every other, A recorded
    /// both, B and C recorded A, and each view carries all three records. Only A is apart from the others: restarting A ends it, and
    /// B and C, who never lost each other, are not restarted.
    @Test func recordsSeenFromOtherNodesAreTheirs() throws {
        let all = [Self.a, Self.b, Self.c]
        let v = Self.rabbitViews(running: [Self.a: all, Self.b: all, Self.c: all],
                                 records: [Self.a: [Self.b, Self.c], Self.b: [Self.a], Self.c: [Self.a]])
        let d = try PartitionRepair.decide(v, strategy: .ignore, seed: Self.a).get()
        #expect(d.restart == [Self.a] && d.keep == [Self.b, Self.c])
        #expect(d.evidence == ["rabbit@A runs with rabbit@A, rabbit@B, rabbit@C; recorded a partition with rabbit@B, rabbit@C",
                               "rabbit@B runs with rabbit@A, rabbit@B, rabbit@C; recorded a partition with rabbit@A",
                               "rabbit@C runs with rabbit@A, rabbit@B, rabbit@C; recorded a partition with rabbit@A"])
        #expect(v.summary(strategy: .ignore).contains(
            "RabbitMQ recorded it (rabbit@A apart from rabbit@B, rabbit@C; rabbit@B apart from rabbit@A; rabbit@C apart from rabbit@A)"),
                "\(v.summary(strategy: .ignore))")

        // The other way the cut widens, A, C | B: B restarts, not C.
        let other = Self.rabbitViews(running: [Self.a: all, Self.b: all, Self.c: all],
                                     records: [Self.a: [Self.b], Self.b: [Self.a, Self.c], Self.c: [Self.b]])
        #expect(try PartitionRepair.decide(other, strategy: .ignore, seed: Self.a).get().restart == [Self.b])

        // Only A still records B and C (they restarted): A is the one to restart, and the summary names A's
        // record once, not as B's or C's.
        let left = Self.rabbitViews(running: [Self.a: all, Self.b: all, Self.c: all], records: [Self.a: [Self.b, Self.c]])
        #expect(try PartitionRepair.decide(left, strategy: .pauseMinority, seed: Self.b).get().restart == [Self.a])
        #expect(left.summary(strategy: .pauseMinority).contains("RabbitMQ recorded it (rabbit@A apart from rabbit@B, rabbit@C); "),
                "\(left.summary(strategy: .pauseMinority))")
    }

    /// A repair cut off after it stopped B: the next one only starts B, whatever the others show, and says why.
    @Test func aCutOffRepairIsFinishedByStartingWhatItStopped() {
        let v = Self.view([Self.a: Self.s([Self.a], apartFrom: [Self.c], node: Self.a), Self.b: .unreadable("not running"),
                           Self.c: Self.s([Self.c], apartFrom: [Self.a], node: Self.c)])
        let d = PartitionRepair.finishing([Self.b], view: v)
        #expect(d.startOnly && d.restart == [Self.b] && d.keep == [Self.a, Self.c])
        #expect(d.rule.hasPrefix("a repair was cut off after it stopped rabbit@B (the journal owes their start)"), "\(d.rule)")
        #expect(d.evidence == ["rabbit@A runs with rabbit@A", "rabbit@B cannot be read (not running)", "rabbit@C runs with rabbit@C"])
    }

    /// After the side restarted: a kept node that still records the partition while all run together is
    /// restarted too; not while a restarted node records one, nor while the nodes run apart.
    @Test func onlyKeptNodesStillRecordingAreRestartedAfterTheSide() {
        let all = [Self.a, Self.b, Self.c]
        let keptOnly = Self.rabbitViews(running: [Self.a: all, Self.b: all, Self.c: all], records: [Self.a: [Self.b, Self.c]])
        #expect(PartitionRepair.keptHolders(keptOnly, keep: [Self.a]) == [Self.a])
        #expect(PartitionRepair.keptHolders(keptOnly, keep: [Self.b, Self.c]).isEmpty)
        let split = Self.rabbitViews(running: [Self.a: [Self.a], Self.b: [Self.b, Self.c], Self.c: [Self.b, Self.c]], records: [Self.a: [Self.b, Self.c]])
        #expect(PartitionRepair.keptHolders(split, keep: [Self.a]).isEmpty)
    }

    @Test func aSplitKeepsTheMajorityAndRestartsTheMinority() throws {
        let v = Self.view([Self.a: Self.s([Self.a, Self.b], node: Self.a), Self.b: Self.s([Self.a, Self.b], node: Self.b),
                           Self.c: Self.s([Self.c], node: Self.c)])
        let d = try PartitionRepair.decide(v, strategy: .pauseMinority, seed: Self.c).get()
        #expect(d.keep == [Self.a, Self.b] && d.restart == [Self.c], "the seed's side loses to the majority")
        #expect(d.rule.hasPrefix("pause_minority keeps the majority"))
        #expect(d.evidence == ["rabbit@A runs with rabbit@A, rabbit@B; recorded no partition", "rabbit@B runs with rabbit@A, rabbit@B; recorded no partition",
                               "rabbit@C runs with rabbit@C; recorded no partition"])
    }

    /// After the network healed, every node runs with every other but the partition stays recorded (ignore,
    /// or a looping autoheal): the sides come from the records.
    @Test func aRecordedPartitionAfterTheHealIsSplitByTheRecords() throws {
        let all = [Self.a, Self.b, Self.c]
        let v = Self.view([Self.a: Self.s(all, apartFrom: [Self.c], node: Self.a), Self.b: Self.s(all, apartFrom: [Self.c], node: Self.b),
                           Self.c: Self.s(all, apartFrom: [Self.a, Self.b], node: Self.c)])
        let d = try PartitionRepair.decide(v, strategy: .autoheal, seed: Self.a).get()
        #expect(d.keep == [Self.a, Self.b] && d.restart == [Self.c])
        #expect(d.rule.contains("connections are not counted"))
        #expect(d.evidence.last == "rabbit@C runs with rabbit@A, rabbit@B, rabbit@C; recorded a partition with rabbit@A, rabbit@B")
    }

    /// A partial partition: A and C apart, B running with both. Restarting one end (not the seed) ends it.
    @Test func aPartialPartitionRestartsOneEndNotTheSeed() throws {
        let all = [Self.a, Self.b, Self.c]
        let v = Self.view([Self.a: Self.s([Self.a, Self.b], apartFrom: [Self.c], node: Self.a), Self.b: Self.s(all, node: Self.b),
                           Self.c: Self.s([Self.b, Self.c], apartFrom: [Self.a], node: Self.c)])
        let d = try PartitionRepair.decide(v, strategy: .pauseMinority, seed: Self.a).get()
        #expect(d.restart == [Self.c] && d.keep == [Self.a, Self.b])
        let seedC = try PartitionRepair.decide(v, strategy: .pauseMinority, seed: Self.c).get()
        #expect(seedC.restart == [Self.a])
    }

    @Test func aTieKeepsTheSeedsSideUnlessTheOperatorChoosesTheOther() throws {
        let v = Self.view([Self.a: Self.s([Self.a], node: Self.a), Self.b: Self.s([Self.b], apartFrom: [Self.a], node: Self.b)])
        let d = try PartitionRepair.decide(v, strategy: .ignore, seed: Self.b).get()
        #expect(d.keep == [Self.b] && d.restart == [Self.a])
        let chosen = try PartitionRepair.decide(v, strategy: .ignore, seed: Self.b, keepSideOf: Self.a).get()
        #expect(chosen.keep == [Self.a] && chosen.restart == [Self.b] && chosen.rule == "you chose to keep the side of rabbit@A")
    }

    @Test func nothingIsGuessedOrRestartedWithoutAPartition() {
        let healthy = Self.view([Self.a: Self.s([Self.a, Self.b], node: Self.a), Self.b: Self.s([Self.a, Self.b], node: Self.b)])
        guard case .failure(.nothingToRepair(let words)) = PartitionRepair.decide(healthy, strategy: .autoheal, seed: Self.a) else {
            Issue.record("a healthy cluster was repaired")
            return
        }
        #expect(words.contains("no partition"))
        let unreadable = Self.view([Self.a: Self.s([Self.a], apartFrom: [Self.b], node: Self.a), Self.b: .unreadable("timed out")])
        guard case .failure(.cannotDecide(let why, let fix)) = PartitionRepair.decide(unreadable, strategy: .autoheal, seed: Self.a) else {
            Issue.record("a node that cannot be read was decided about")
            return
        }
        #expect(why.contains("rabbit@B cannot be read (timed out)") && fix.contains("start it or restore the network"))
    }
}
