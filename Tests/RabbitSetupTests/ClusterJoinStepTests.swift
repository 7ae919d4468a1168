import Executor
import Testing
import TestKit
import Workflow

@testable import RabbitSetup

/// cluster-join's decisions from given observations (a scripted transport; the real join runs in the
/// cluster scenarios and on the multi-host bed).
struct ClusterJoinStepTests {
    static let topology = Topology(nodes: ["ServerA", "ServerB", "ServerC"].map { h in
        NodeSpec(name: "server-\(h.suffix(1).lowercased())", host: try! HostName(h))
    }, seedName: "server-a")

    static func seedSees(_ nodes: [String]) -> ScriptedTransport.Rule {
        let list = nodes.map { "\"rabbit@\($0)\"" }.joined(separator: ",")
        return .init(["rabbit@ServerA", "cluster_status"], stdout: "{\"running_nodes\":[\(list)],\"disk_nodes\":[\(list)],\"partitions\":{}}")
    }

    static func facts(_ host: String, members: [String], running: Bool) -> ScriptedTransport.Rule {
        .init(["rabbit@\(host)", "eval"], stdout: "partition_handling={ok,autoheal}\ncluster_nodes=\(members.map { "rabbit@\($0)" }.joined(separator: ","))\napp_running=\(running)\n")
    }

    func step(_ rules: [ScriptedTransport.Rule]) -> (ClusterJoinStep, StepContext, ScriptedTransport) {
        let transport = ScriptedTransport(rules)
        return (ClusterJoinStep(topology: Self.topology), StepContext(executor: Executor(commandLog: nil, local: transport)), transport)
    }

    /// A joiner that is a member but whose application is stopped (its join was cut off before start_app)
    /// needs start_app only: not a second join, and not a "cannot read the cluster status" dead end.
    /// apply acts on what the plan's changes mean (their typed detail), not on their words: with the
    /// targets reworded it still sends that one start_app.
    @Test(arguments: [false, true])
    func memberLeftStoppedIsStartedNotJoinedAgain(reworded: Bool) async throws {
        let (step, context, transport) = step([
            Self.seedSees(["ServerA", "ServerB", "ServerC"]),
            Self.facts("ServerB", members: ["ServerA", "ServerB", "ServerC"], running: true),
            Self.facts("ServerC", members: ["ServerA", "ServerB", "ServerC"], running: false),
            .init(["rabbit@ServerC", "start_app"]),
        ])
        var plan = try await step.plan(context)
        #expect(plan.changes.map(\.target) == ["server-c: start_app"])
        #expect(plan.changes.first?.destructive == nil)
        if reworded { for i in plan.changes.indices { plan.changes[i].target = "reworded for people" } }
        let undo = try await step.prepare(plan, context)
        _ = try await step.apply(plan, prepared: undo, context)
        let mutating = transport.argvs.filter { $0.contains("start_app") || $0.contains("stop_app") || $0.contains("join_cluster") || $0.contains("export_definitions") }
        #expect(mutating.count == 1 && mutating[0].contains("rabbit@ServerC") && mutating[0].contains("start_app"), "\(mutating)")
    }

    @Test func membersRunningNeedNothingAndStrangersAreJoined() async throws {
        let (step, context, _) = step([
            Self.seedSees(["ServerA", "ServerB"]),
            Self.facts("ServerB", members: ["ServerA", "ServerB"], running: true),
            Self.facts("ServerC", members: ["ServerC"], running: true),
        ])
        let plan = try await step.plan(context)
        #expect(plan.changes.map(\.target) == ["server-c: join rabbit@ServerA"])
        #expect(plan.changes.first?.destructive != nil)
    }

    /// After join_cluster fails the node is started again only when the join surely did not happen; when
    /// its end is unknown (connection lost, time-out) the join may still be running there, so nothing more
    /// is sent and the failure says the outcome is unknown.
    @Test(arguments: [
        (Termination.connectionFailed(.lost(reason: "ssh exit 255, no message")), true),
        (Termination.timedOut(seconds: 120), true),
        (Termination.exited(code: 69), false),
    ])
    func failedJoinRestartsOnlyWhenTheJoinSurelyFailed(join: Termination, unknown: Bool) async throws {
        let (step, context, transport) = step([
            Self.seedSees(["ServerA", "ServerB"]),
            Self.facts("ServerB", members: ["ServerA", "ServerB"], running: true),
            Self.facts("ServerC", members: ["ServerC"], running: true),
            .init(["rabbit@ServerC", "join_cluster"], join, stderr: "TCP connection succeeded but Erlang distribution failed"),
            .init(["rabbit@ServerC", "export_definitions"]), .init(["rabbit@ServerC", "stop_app"]), .init(["rabbit@ServerC", "start_app"]),
        ])
        let plan = try await step.plan(context)
        let undo = try await step.prepare(plan, context)
        do {
            _ = try await step.apply(plan, prepared: undo, context)
            Issue.record("apply succeeded after join_cluster ended \(join)")
        } catch {
            #expect(error.outcomeUnknown == unknown, "\(error)")
            #expect(error.partialUndo != nil)
        }
        let argvs = transport.argvs
        let joinIndex = try #require(argvs.firstIndex { $0.contains("join_cluster") })
        let startedAfter = argvs[(joinIndex + 1)...].contains { $0.contains("start_app") }
        #expect(startedAfter == !unknown, "commands after join_cluster: \(argvs[(joinIndex + 1)...].map { $0.suffix(2) })")
    }
}
