import Executor
import Foundation
import Testing
import TestKit
import Workflow

@testable import RabbitSetup

/// The failover drill's verdict and its table, on rows made here; the drill against real nodes is in the
/// scenarios (`ClusterScenarioTests`, `NetworkBedTests`, `WindowsScenarioTests`).
struct FailoverDrillTests {
    static func passing() -> FailoverDrillStep.Row {
        var r = FailoverDrillStep.Row(node: "rabbit@ServerA")
        (r.attempts, r.failed, r.worstMilliseconds) = (60, 0, 12)
        (r.messages.published, r.messages.confirmed, r.messages.delivered, r.messages.lost) = (62, 61, 60, 2)
        r.messages.longestGapMilliseconds = 400
        (r.subscriberOnNode, r.publisherOnNode, r.backInRunningSeconds, r.servedAgainSeconds) = (true, true, 5.5, 10.2)
        return r
    }

    @Test func aRowThatMeetsEveryConditionPasses() {
        #expect(FailoverDrillStep.problems(Self.passing(), maxGap: .seconds(10)).isEmpty)
    }

    /// Each way a node fails the drill is named: no attempt, no message, a gap over the limit, not back.
    @Test func eachFailureIsNamed() {
        var none = Self.passing()
        none.attempts = 0
        #expect(FailoverDrillStep.problems(none, maxGap: .seconds(10)) == ["no new connection was attempted through the load balancer"])

        var silent = Self.passing()
        (silent.messages.published, silent.messages.delivered, silent.messages.lastFailure) = (0, 0, "publisher: connection refused")
        #expect(FailoverDrillStep.problems(silent, maxGap: .seconds(10))
                    == ["no message went through (0 published, 0 delivered): publisher: connection refused"])

        var gap = Self.passing()
        gap.messages.longestGapMilliseconds = 10_001
        #expect(FailoverDrillStep.problems(gap, maxGap: .seconds(10))
                    == ["messages stopped for 10.0 s, over the limit of 10.0 s (--max-gap)"])
        #expect(FailoverDrillStep.problems(gap, maxGap: .milliseconds(10_001)).isEmpty, "a gap at the limit passes")

        var gone = Self.passing()
        gone.backInRunningSeconds = nil
        #expect(FailoverDrillStep.problems(gone, maxGap: .seconds(10)) == ["it did not come back into running_nodes within 120 s"])

        // Back, but the load balancer still keeps it out: the next node is not failed.
        var unserved = Self.passing()
        unserved.servedAgainSeconds = nil
        #expect(FailoverDrillStep.problems(unserved, maxGap: .seconds(10))
                    == ["the load balancer sent it no new connection within 60 s of its return to running_nodes"])
    }

    /// The table fits the screen's 80 columns (76 and the summary's indent of 3), whatever the node names, and says where the clients were.
    @Test func theTableFitsEightyColumns() {
        var long = Self.passing()
        long.node = "rabbit@a-very-long-host-name.example.internal"
        (long.subscriberOnNode, long.publisherOnNode) = (true, false)
        var slow = Self.passing()
        (slow.messages.published, slow.messages.longestGapMilliseconds, slow.messages.reconnectMilliseconds) = (9_999, 123_400, 99_000)
        slow.messages.subscriberDisconnects = 1
        slow.backInRunningSeconds = nil
        var unserved = Self.passing()
        unserved.servedAgainSeconds = nil
        let table = FailoverDrillStep.table([Self.passing(), long, slow, unserved])
        let lines = table.split(separator: "\n")
        #expect(lines.count == 15, "\(table)")
        #expect(lines.allSatisfy { $0.count <= 76 }, "\(table)")
        #expect(lines[2].hasPrefix("  rabbit@a-very-lon~ "), "\(table)")
        #expect(lines[3].hasSuffix(" no"), "a node that did not come back: \(table)")
        #expect(lines[5] == "  rabbit@a-very-lon~: the publisher on another node (load balancer's choice)", "\(table)")
        #expect(lines[6] == "  rabbit@ServerA: new connections reach it again at 10.2 s", "\(table)")
        #expect(lines[8] == "  rabbit@ServerA: no new connection reached it in 60 s after back", "a node back that no connection reached: \(table)")
        #expect(!lines.contains { $0.hasPrefix("  rabbit@ServerA: ") && $0.contains("99.0") }, "no such line for a node not back")
        #expect(lines[1].contains(" -"), "no reconnect where the subscriber never lost its connection: \(lines[1])")
        #expect(lines[3].contains("99.0 s"), "\(lines[3])")
    }

    /// The tests' and the benchmark's reader of the table reads what the product prints.
    @Test func theTestsReadTheTableAsPrinted() {
        var reconnected = Self.passing()
        reconnected.messages.subscriberDisconnects = 1
        reconnected.messages.reconnectMilliseconds = 260
        var gone = Self.passing()
        gone.node = "rabbit@ServerC"
        gone.backInRunningSeconds = nil
        let rows = DrillRow.parse(FailoverDrillStep.table([Self.passing(), reconnected, gone]))
        #expect(rows == [
            DrillRow(node: "rabbit@ServerA", connections: 60, failed: 0, slowestMilliseconds: 12, sent: 62, acked: 61, lost: 2, gapSeconds: 0.4,
                     reconnectSeconds: nil, backSeconds: 5.5),
            DrillRow(node: "rabbit@ServerA", connections: 60, failed: 0, slowestMilliseconds: 12, sent: 62, acked: 61, lost: 2, gapSeconds: 0.4,
                     reconnectSeconds: 0.3, backSeconds: 5.5),
            DrillRow(node: "rabbit@ServerC", connections: 60, failed: 0, slowestMilliseconds: 12, sent: 62, acked: 61, lost: 2, gapSeconds: 0.4,
                     reconnectSeconds: nil, backSeconds: nil),
        ])
    }

    /// The plan names the mode, the limit and, for a hard kill, the restart; link-cut only where the bed gives its program.
    @Test func thePlanNamesTheModeAndTheLimit() async throws {
        var topology = try TopologyParser.parse(Topologies.threeDebianServers + """

            load_balancer:
              kind: nginx
              host: 127.0.0.9
              reach: ssh://root@LB
              listen_port: 9
            """)
        topology.drill = DrillSettings(mode: .hard, maxGap: .seconds(5))
        let step = FailoverDrillStep(topology: topology, loadBalancer: try #require(topology.loadBalancer))
        let plan = try await step.plan(StepContext(executor: try Executor(state: try StateDirectory(path: Support.temporaryDirectory()))))
        #expect(plan.changes.count == 4)
        #expect(plan.changes.dropFirst().allSatisfy { $0.target.contains("(hard): its Erlang VM killed (kill -9)") && $0.summary.contains("over 5.0 s") },
                "\(plan.changes.map(\.target))")
        #expect(plan.changes.dropFirst().allSatisfy { $0.restart != nil }, "a hard kill restarts the node")
        #expect(step.title == "failover drill through nginx (hard): fail each node in turn")
        // What the screen offers says the same: the mode, the node count, the time down, the limit.
        let offer = step.offer.joined(separator: " ")
        #expect(offer.contains("each of the 3 nodes in turn (hard: its Erlang VM killed (kill -9)") && offer.contains("down about 4 s")
                && offer.contains("a gap over 5.0 s fails the drill"), "\(offer)")
        topology.drill = DrillSettings()
        let graceful = try await FailoverDrillStep(topology: topology, loadBalancer: try #require(topology.loadBalancer))
            .plan(StepContext(executor: try Executor(state: try StateDirectory(path: Support.temporaryDirectory()))))
        #expect(!graceful.changes.isEmpty && graceful.changes.allSatisfy { $0.restart == nil })
    }
}
