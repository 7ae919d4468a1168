import Executor
import Foundation
import Glibc
import Synchronization
import RabbitSetup
import TestKit
import Testing
import Workflow

/// Node connections (one hidden Erlang VM per node and run, ``NodeConnection``) on real sandbox nodes.
extension ClusterScenarioTests {
    /// The command log's records, as `log --json` prints them.
    static func logRecords(_ bed: SandboxBed) async -> [[String: Any]] {
        await bed.wizard(["log", "--json"]).stdout.text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    static func exitCode(_ record: [String: Any]) -> Int? { ((record["termination"] as? [String: Any])?["exited"] as? [String: Any])?["code"] as? Int }

    /// After the apply that formed the cluster (the cookie step gave the running joiners the seed's cookie and
    /// then the files the connections read): each joiner's connection answered after its cookie file was
    /// replaced (it reconnected with the new cookie), and it was the same VM all along (one VM life per node).
    /// Called right after that apply (the last run in the log).
    static func connectionsFollowedTheLiveCookie(_ bed: SandboxBed) async {
        let records = await logRecords(bed)
        for l in bed.letters.dropFirst() {
            let key = "channel erl \(bed.nodeName(l))@local"
            let cookie = bed.nodeDir(l) + "/home/.erlang.cookie"
            let write = records.lastIndex { $0["step"] as? String == "erlang-cookie" && ($0["argv"] as? [String])?.contains(cookie) == true
                && $0["mutates"] as? Bool == true }
            #expect(write != nil, "node \(l)'s cookie file was not written")
            let answeredAfter = records[(write ?? records.endIndex)...].filter { $0["via"] as? String == key && exitCode($0) == 0 }
            #expect(!answeredAfter.isEmpty, "no answer over \(key) after node \(l)'s cookie changed")
            // A VM's life is recorded when it ends: the apply's (the last run) is the one after the write.
            let lives = records[(write ?? records.endIndex)...].filter { $0["id"] as? String == key && $0["via"] == nil }
            #expect(lives.count == 1, "\(key): \(lives.count) VM lives in the apply's run (replaced instead of reconnected?)")
        }
    }

    /// `status --json` is the same with the node connections as with the CLI alone (`kept`, which counts
    /// the growing command log, left out).
    static func statusIsTheSameWithoutConnections(_ bed: SandboxBed) async throws {
        func json(_ env: [String: String]) async throws -> [String: Any] {
            let out = await Support.run([Support.productBinary, "status", "--json", "--config", bed.topology], timeout: .seconds(300), environment: env)
            var o = try JSONSerialization.jsonObject(with: Data(out.stdout.text.utf8)) as? [String: Any] ?? [:]
            o["kept"] = nil
            return o
        }
        let with = try await json([:])
        let without = try await json(["RABBIT_WIZARD_CONNECTIONS": "off"])
        #expect(!with.isEmpty && NSDictionary(dictionary: with).isEqual(to: without), "with: \(with)\nwithout: \(without)")
    }

    /// In-process on node c (standalone and running): a read over the connection, reused within a run
    /// until a change (`stop_app`) makes the next one ask again; the node killed under it
    /// answers at once that it is down (not at the deadline) and the error names it (the CLI's words); the
    /// node started again is read over the same VM; a VM that cannot start falls back to the CLI and says
    /// so once. The VM ends with the executor.
    static func connectionScenario(_ bed: SandboxBed) async throws {
        let topology = try TopologyParser.load(path: bed.topology)
        let spec = try #require(topology.nodes.first { $0.nodeName.description == bed.nodeName("c") })
        let state = try StateDirectory(path: bed.dir + "/connection-state")
        let executor = try Executor(state: state)
        let notices = Mutex<[String]>([])
        executor.subscribe { if case .notice(let text) = $0 { notices.withLock { $0.append(text) } } }
        let node = RabbitNode(spec, executor: executor, step: "test")
        let key = "channel erl \(spec.nodeName)@local"
        func requests() throws -> [CommandRecord] { try CommandLog.read(path: state.commandLogPath).records.filter { $0.via == key } }

        #expect(try await node.clusterFacts().appRunning)
        #expect(try requests().last?.termination == .exited(code: 0))

        // Within one run, where reuse is allowed (a step's check, plan, prepare): asked once until a change;
        // the change (stop_app through the CLI) is seen by the next read, the same question as before.
        try await Observations.run(reusing: true) {
            let before = try requests().count
            #expect(try await node.clusterFacts().appRunning)
            #expect(try await node.clusterFacts().appRunning)
            #expect(try requests().count == before + 1, "the second read was asked again")
            try await node.ctlChecked(["stop_app"], doing: "stop the application", mutates: true)
            #expect(try await !node.clusterFacts().appRunning, "a read from before the change was reused after it")
            try await node.ctlChecked(["start_app"], doing: "start the application", timeout: .seconds(120), mutates: true)
            #expect(try await node.clusterFacts().appRunning)
            #expect(try requests().count == before + 3)
        }

        // A pid that cannot be read fails the test: `kill(0, ...)` would signal the test's own process group.
        let pidC = try #require(Int32(bed.pid("c").trimmingCharacters(in: .whitespacesAndNewlines)), "node c's pid file: \(bed.pid("c"))")
        kill(pidC, SIGKILL)
        do {
            _ = try await node.clusterFacts()
            Issue.record("read a killed node")
        } catch {
            #expect(error.cause.contains("\(spec.nodeName) is not running"), "\(error)")
        }
        // Answered "down" by the connection, not timed out.
        let down = try requests().last
        #expect(down?.termination == .exited(code: 1), "\(down.map { "\($0)" } ?? "no request")")
        #expect(await bed.start("c"))
        #expect(try await node.clusterFacts().appRunning)
        #expect(try requests().last?.termination == .exited(code: 0))

        // A VM that cannot start (its own executor, so its own channel): the CLI answers, said once.
        var broken = node.profile
        broken.erl = ["/nonexistent/erl"]
        let state2 = try StateDirectory(path: bed.dir + "/connection-state-2")
        let executor2 = try Executor(state: state2)
        let notices2 = Mutex<[String]>([])
        executor2.subscribe { if case .notice(let text) = $0 { notices2.withLock { $0.append(text) } } }
        let viaCLI = RabbitNode(spec, profile: broken, executor: executor2, step: "test")
        #expect(try await viaCLI.clusterFacts().appRunning)
        #expect(try await viaCLI.clusterStatus().runningNodes == [bed.nodeName("c")])
        let said = notices2.withLock { $0 }
        #expect(said.count == 1 && said.allSatisfy { $0.contains("no live connection to \(spec.nodeName)") && $0.contains("rabbitmqctl instead") }, "\(said)")
        let cli = try CommandLog.read(path: state2.commandLogPath).records.filter { $0.argv.contains { $0.hasSuffix("/bin/rabbitmqctl") } }
        #expect(cli.count == 2, "the two reads went to the CLI: \(cli.map(\.argv))")
        await executor2.shutdown()

        await executor.shutdown()
        let lives = try CommandLog.read(path: state.commandLogPath).records.filter { $0.id == key && $0.via == nil }
        #expect(lives.count == 1, "one VM through the kill and the restart: \(lives)")
        if let pid = lives.first?.pid { #expect(Support.hasEnded(pid), "the VM outlived its executor") }
        #expect(notices.withLock { $0 }.isEmpty)
    }
}
