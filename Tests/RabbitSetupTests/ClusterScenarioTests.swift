import Executor
import Foundation
import Glibc
import RabbitSetup
import TestKit
import Testing
import Workflow

/// The cluster steps against real RabbitMQ nodes started by the product's own sandbox. Each scenario
/// runs once, in order, on one shared sandbox (a node takes ~10 s to start).
@Suite struct ClusterScenarioTests {
    /// Three nodes: apply forms the cluster (traced for the canary), a second apply changes nothing, a
    /// stopped node fails cluster-join with its name and a next action and retry completes once it is
    /// back, and the three rollbacks restore every file byte for byte.
    @Test func threeNodes() async throws {
        let bed = try await SandboxBed.up(nodes: 3, basePort: 5711)
        let canary = Support.read(bed.nodeDir("a") + "/home/.erlang.cookie")
        #expect(canary.count == 20)
        let before = bed.managedFiles()
        var outputs = ""

        // 1. apply, every execve traced.
        let trace = bed.dir + "/trace"
        let apply = await Support.traced([Support.productBinary, "apply", "--yes", "--config", bed.topology], trace: trace)
        outputs += apply.stdout + apply.stderr
        #expect(apply.code == 0, "\(apply.stdout)\n\(apply.stderr)")
        for l in bed.letters {
            let seen = await bed.runningNodes(seenFrom: l)
            #expect(seen?.running == bed.letters.map(bed.nodeName).sorted(), "cluster as seen from \(l)")
            #expect(seen?.partitions == 0)
            #expect(await bed.effectivePartitionHandling(l) == "{ok,pause_minority}")
        }
        let cookies = Set(bed.letters.map { Support.read(bed.nodeDir($0) + "/home/.erlang.cookie") })
        #expect(cookies == [canary], "every node has the seed's cookie")
        #expect(SandboxBed.file(bed.nodeDir("b") + "/home/.erlang.cookie").mode == 0o400)

        // 2. A second apply: 0 changes, no restart.
        let pids = bed.letters.map(bed.pid)
        let again = await bed.wizard(["apply", "--yes"])
        outputs += again.stdout.text + again.stderr.text
        #expect(again.termination == .exited(code: 0))
        #expect(!again.stdout.text.contains("applying"), "\(again.stdout.text)")
        #expect(bed.letters.map(bed.pid) == pids, "a node was restarted")

        // 3. A node stopped before cluster-join: the failure names it and says what to do; retry completes.
        let undoJoin = await bed.wizard(["rollback", "cluster-join", "--yes"])
        outputs += undoJoin.stdout.text + undoJoin.stderr.text
        #expect(undoJoin.termination == .exited(code: 0), "\(undoJoin.stdout.text)\(undoJoin.stderr.text)")
        #expect(await bed.runningNodes(seenFrom: "b")?.running == [bed.nodeName("b")])
        #expect(await bed.stop("c"))
        let failed = await bed.wizard(["apply", "--yes", "--only", "cluster-join"])
        outputs += failed.stdout.text + failed.stderr.text
        #expect(failed.termination == .exited(code: 1))
        #expect(failed.stderr.text.contains("rabbit-c@localhost is not running"), "\(failed.stderr.text)")
        #expect(failed.stderr.text.contains("start it (\(bed.nodeDir("c"))/bin/start)"), "\(failed.stderr.text)")
        #expect(await bed.start("c"))
        let retried = await bed.wizard(["retry", "cluster-join", "--yes"])
        outputs += retried.stdout.text + retried.stderr.text
        #expect(retried.termination == .exited(code: 0), "\(retried.stdout.text)\(retried.stderr.text)")
        #expect(await bed.runningNodes(seenFrom: "c")?.running == bed.letters.map(bed.nodeName).sorted())

        // 4. Roll back in reverse order: files byte-identical with owner and mode, nodes standalone and running.
        for step in ["cluster-join", "erlang-cookie", "partition-handling"] {
            let r = await bed.wizard(["rollback", step, "--yes"])
            outputs += r.stdout.text + r.stderr.text
            #expect(r.termination == .exited(code: 0), "rollback \(step): \(r.stdout.text)\(r.stderr.text)")
        }
        #expect(bed.managedFiles() == before, "a managed file differs from its before-state")
        for l in bed.letters {
            #expect(await bed.runningNodes(seenFrom: l)?.running == [bed.nodeName(l)], "\(l) is standalone and running")
            #expect(await bed.effectivePartitionHandling(l) == "{ok,ignore}")
        }

        // 5. The canary (the seed's cookie) is nowhere: log, journal, output, any process's argv or environment.
        #expect(!bed.stateTexts().contains(canary), "cookie in the command log or journal")
        #expect(!outputs.contains(canary), "cookie in the output")
        let traced = Support.read(trace)
        #expect(traced.contains("execve("))
        #expect(!traced.contains(canary), "cookie in an execve argv or environment")
        await bed.down()
    }

    /// Two nodes: the conformance suite for every cluster step on real nodes, then apply with the
    /// two-node warning.
    @Test func twoNodesConformanceThenApply() async throws {
        let bed = try await SandboxBed.up(nodes: 2, basePort: 5731)
        let topology = try TopologyParser.load(path: bed.topology)
        let state = try StateDirectory(path: bed.dir + "/conformance")
        let context = StepContext(executor: try Executor(state: state))
        let dry = StepContext(executor: try Executor(state: state, dryRun: true))
        let canary = Support.read(bed.nodeDir("a") + "/home/.erlang.cookie")
        // Everything the steps may change: files, membership, effective setting.
        let snapshot: @Sendable () async -> [String] = {
            var s = bed.managedFiles().sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.bytes ?? []) \($0.value.mode) \($0.value.uid)" }
            for l in bed.letters {
                s.append("\(l) \(await bed.runningNodes(seenFrom: l).map { "\($0.running)" } ?? "down")")
                s.append("\(l) \(await bed.effectivePartitionHandling(l))")
            }
            return s
        }
        let checks = InstallationChecksStep(topology: topology)
        let findings = try await checks.check(context)
        #expect(findings.map(\.name) == ["two-node-cluster"], "\(findings)")

        let cookie = ErlangCookieStep(topology: topology)
        for step in [PartitionHandlingStep(topology: topology) as any Step, cookie] {
            let failures = await StepConformance.run(step, context: context, dryRun: dry, canaries: [canary],
                                                     logPath: state.commandLogPath, snapshot: snapshot)
            #expect(failures == [], "\(step.id)")
        }
        // cluster-join needs equal cookies: apply the cookie step for real, run the suite, undo the cookie.
        let cookiePlan = try await cookie.plan(context)
        let cookieUndo = try await cookie.apply(cookiePlan, prepared: try await cookie.prepare(cookiePlan, context), context)
        let joinFailures = await StepConformance.run(ClusterJoinStep(topology: topology), context: context, dryRun: dry, canaries: [canary],
                                                     logPath: state.commandLogPath, snapshot: snapshot)
        #expect(joinFailures == [])
        try await cookie.rollback(cookieUndo, context)

        let apply = await bed.wizard(["apply", "--yes"])
        #expect(apply.termination == .exited(code: 0), "\(apply.stdout.text)\(apply.stderr.text)")
        #expect(apply.stdout.text.contains("warning two-node-cluster"))
        #expect(await bed.runningNodes(seenFrom: "b")?.running == [bed.nodeName("a"), bed.nodeName("b")])
        #expect(await bed.effectivePartitionHandling("b") == "{ok,autoheal}")
        await bed.down()
    }

    /// reliability.md cases 1-6 through the binary: a clear error naming the field, and no command at all.
    @Test(arguments: [
        ("host: ServerB", "host: \"ServerB;touch /tmp/rw-pwned\"", "nodes[1].host"),
        ("host: ServerB", "host: \"$(touch /tmp/rw-pwned)\"", "nodes[1].host"),
        ("seed: server-a", "seed: server-a\n  partition_handling: \"autoheal\\n}\"", "cluster.partition_handling"),
        ("host: ServerB", "host: ServerA", "nodes"),
        ("host: ServerB", "host: ServerB\n    amqp_port: 99999", "nodes[1].amqp_port"),
        ("host: ServerB", "host: ServerB\n    amqp_port: 4369", "nodes[1].amqp_port"),
    ])
    func badTopologyRunsNothing(from: String, to: String, field: String) async throws {
        let root = Support.temporaryDirectory()
        defer { Support.remove(root) }
        let yaml = """
            cluster:
              seed: server-a
            nodes:
              - name: server-a
                host: ServerA
                reach: ssh://root@127.0.0.1:1
              - name: server-b
                host: ServerB
                reach: ssh://root@127.0.0.1:1

            """.replacingOccurrences(of: from, with: to)
        Support.write(yaml, to: root + "/topology.yml")
        for command in [["plan"], ["apply", "--yes"], ["status"]] {
            let out = await Support.run([Support.productBinary] + command + ["--config", root + "/topology.yml", "--state-dir", root + "/state"])
            #expect(out.termination == .exited(code: 64), "\(command)")
            #expect(out.stderr.text.contains(field), "\(out.stderr.text)")
            #expect(out.stderr.text.contains("Fix:"))
            #expect(out.stderr.text.contains("nothing was run"))
        }
        #expect(!FileManager.default.fileExists(atPath: root + "/state/commands.jsonl"), "a command ran")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/rw-pwned"))
    }
}
