import Executor
import Foundation
import Glibc
import RabbitSetup
import TestKit
import Testing
import Workflow

/// The cluster steps against real RabbitMQ nodes started by the product's own sandbox (a node takes ~10 s
/// to start). Each scenario runs once, one at a time; the scenarios on three nodes share one sandbox, the
/// two-node ones another, and the multi-host bed is its own.
@Suite(.serialized) struct ClusterScenarioTests {
    /// One 3-node sandbox with nginx, shared; each test also runs alone on a sandbox of its own.
    @Suite(.serialized, .sharedSandbox(nodes: 3, basePort: 5711, loadBalancer: "nginx")) struct ThreeNodes {
        /// The cluster steps alone (``threeNodes(_:)``): needs separate nodes, leaves them separate.
        @Test func clusterSteps() async throws {
            let bed = try SharedSandbox.bed
            bed.resetState()
            try await bed.requireSeparate("the cluster steps")
            try await ClusterScenarioTests.threeNodes(bed.withoutLoadBalancer())
        }

        /// The whole setup from the keyboard (``screenScenario(_:)``): needs separate nodes, leaves the
        /// cluster formed.
        @Test func fromTheScreen() async throws {
            let bed = try SharedSandbox.bed
            bed.resetState()
            try await bed.requireSeparate("the setup from the screen")
            try await ClusterScenarioTests.screenScenario(bed)
        }

        /// The load balancers (``loadBalancerScenario(_:)``) on the cluster the screen formed, or, alone, on
        /// the one its own first apply forms.
        @Test func behindTheLoadBalancers() async throws {
            try await ClusterScenarioTests.loadBalancerScenario(try SharedSandbox.bed)
        }

        /// The site's own load balancer (``externalLoadBalancerScenario(_:)``): forms the cluster if it is not.
        @Test func behindTheSitesOwnLoadBalancer() async throws {
            try await ClusterScenarioTests.externalLoadBalancerScenario(try SharedSandbox.bed)
        }
    }

    /// `kind: external`: an nginx the test starts itself, from its own configuration, which the wizard only
    /// learns of as `host:port`. The plan changes nothing on it and says what it needs; apply, status and the
    /// drill go through it; its file and process are untouched. A node taken out of its members fails the
    /// load-balancer step naming that node (seen from the nodes' connection lists); with it stopped, the step
    /// fails naming the address and `status` says it does not answer.
    /// An nginx the test starts itself in front of the sandbox's nodes, from its own configuration (nginx's
    /// passive checks at their defaults, `max_fails=1 fail_timeout=10s`), and the sandbox's topology with it
    /// as `kind: external` and a journal of its own. Stopped by the pid it wrote.
    struct SiteNginx {
        let dir: String, confPath: String, topology: String, port: Int, pid: Int32

        static func conf(dir: String, port: Int, ports: [Int]) -> String {
            """
            load_module /usr/lib/nginx/modules/ngx_stream_module.so;
            pid \(dir)/nginx.pid;
            error_log \(dir)/error.log notice;
            worker_processes 1;
            events { worker_connections 256; }
            stream {
                upstream site_pool {
            \(ports.map { "        server 127.0.0.1:\($0);" }.joined(separator: "\n"))
                }
                server { listen 127.0.0.1:\(port); proxy_pass site_pool; proxy_connect_timeout 2s; proxy_timeout 3600s; }
            }

            """
        }

        static func command(dir: String, confPath: String) -> [String] { ["nginx", "-e", dir + "/error.log", "-p", dir, "-c", confPath] }

        static func start(_ bed: SandboxBed, ports: [Int]) async throws -> SiteNginx {
            let dir = bed.dir + "/site-lb"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let port = Support.freePort()
            let confPath = dir + "/nginx.conf"
            Support.write(conf(dir: dir, port: port, ports: ports), to: confPath)
            let started = await Support.run(command(dir: dir, confPath: confPath))
            #expect(started.termination == .exited(code: 0), "\(started.stderr.text)")
            let pid = try #require(Int32(Support.read(dir + "/nginx.pid").trimmingCharacters(in: .whitespacesAndNewlines)), "nginx wrote no pid")
            #expect(await Support.waitUntil { (try? AMQPProbe(host: "127.0.0.1", port: port).hello()) != nil }, "the site's nginx does not answer")
            let text = Support.read(bed.topology)
            let topology = bed.dir + "/external.yml"
            let external = "load_balancer:\n  kind: external\n  host: 127.0.0.1\n  listen_port: \(port)"
            let head = text.replacingOccurrences(of: "state_dir: \(bed.state)", with: "state_dir: \(bed.dir)/external-state")
            // The sandbox's own load balancer replaced, or this one added where the sandbox has none.
            if let block = head.range(of: "load_balancer:") {
                let nodes = try #require(head.range(of: "\nnodes:", range: block.upperBound..<head.endIndex))
                Support.write(String(head[..<block.lowerBound]) + external + head[nodes.lowerBound...], to: topology)
            } else {
                let nodes = try #require(head.range(of: "\nnodes:"), "the sandbox's topology has no nodes")
                Support.write(String(head[..<nodes.lowerBound]) + "\n" + external + head[nodes.lowerBound...], to: topology)
            }
            return SiteNginx(dir: dir, confPath: confPath, topology: topology, port: port, pid: pid)
        }

        /// Its pool made of `ports`, reloaded.
        func reload(ports: [Int]) async -> Bool {
            Support.write(Self.conf(dir: dir, port: port, ports: ports), to: confPath)
            return await Support.run(Self.command(dir: dir, confPath: confPath) + ["-s", "reload"]).termination == .exited(code: 0)
        }

        func stop() { kill(pid, SIGTERM) }
    }

    static func externalLoadBalancerScenario(_ bed: SandboxBed) async throws {
        let (nodePorts, _) = bed.ports()
        #expect(nodePorts.count == 3, "the sandbox's ports: \(nodePorts)")
        let site = try await SiteNginx.start(bed, ports: nodePorts)
        defer { site.stop() }
        let (port, pid, confPath, topology) = (site.port, site.pid, site.confPath, site.topology)
        func wizard(_ args: [String]) async -> TransportOutcome { await bed.wizard(args + ["--config", topology], config: false) }
        let confBefore = Support.read(confPath)

        let plan = await wizard(["plan"])
        #expect(plan.termination == .exited(code: 0), "\(plan.stdout.text)\(plan.stderr.text)")
        let members = nodePorts.map { "localhost:\($0)" }.joined(separator: ", ")
        #expect(plan.stdout.text.contains("the site's own load balancer at 127.0.0.1:\(port): nothing will be changed on the load balancer")
                && plan.stdout.text.contains("members \(members)") && plan.stdout.text.contains("Host 127.0.0.1, Port \(port)"), "\(plan.stdout.text)")
        let apply = await wizard(["apply", "--yes"])
        #expect(apply.termination == .exited(code: 0), "\(apply.stdout.text)\(apply.stderr.text)")
        #expect(apply.stdout.text.contains("== load-balancer: check the site's own load balancer at 127.0.0.1:\(port)"), "\(apply.stdout.text)")
        let status = await wizard(["status"])
        #expect(status.stdout.text.contains("load balancer: the site's own (external) at 127.0.0.1:\(port), nothing changed on it: "
                                            + "answers as this cluster, every node reached through it"), "\(status.stdout.text)")
        let drill = await wizard(["apply", "--yes", "--only", "failover-drill"])
        #expect(drill.termination == .exited(code: 0), "\(drill.stdout.text)\(drill.stderr.text)")
        #expect(drill.stdout.text.contains("Failover drill (graceful) through the external load balancer 127.0.0.1:\(port)"), "\(drill.stdout.text)")
        let rows = DrillRow.parse(drill.stdout.text)
        #expect(rows.map(\.node) == bed.letters.map(bed.nodeName), "\(drill.stdout.text)")
        #expect(rows.allSatisfy { $0.connections > 0 && $0.failed == 0 && $0.sent > 0 && $0.backSeconds != nil }, "\(rows)")
        print("graceful drill through the site's nginx: \(rows.map(\.description).joined(separator: "; "))")
        #expect(Support.read(confPath) == confBefore && kill(pid, 0) == 0, "the wizard touched the site's load balancer")

        // A shrink while the site's load balancer still sends clients to the leaving node: refused, nothing changed.
        let leaving = Support.read(topology).replacingOccurrences(of: "  - name: node-c\n", with: "  - name: node-c\n    leave: true\n")
        #expect(leaving.contains("leave: true"), "\(leaving)")
        Support.write(leaving, to: bed.dir + "/external-leave.yml")
        let shrink = await bed.wizard(["apply", "--yes", "--only", "cluster-leave", "--config", bed.dir + "/external-leave.yml"], config: false)
        #expect(shrink.termination == .exited(code: 1), "\(shrink.stdout.text)\(shrink.stderr.text)")
        #expect(shrink.stderr.text.contains("the external load balancer at 127.0.0.1:\(port) still sends clients to node-c"), "\(shrink.stderr.text)")
        #expect(await bed.runningNodes(seenFrom: "c")?.running.count == 3, "node-c left the cluster")

        // Node c out of its members: the old worker gone (it ends once the new one serves), then the step fails naming c.
        let workers = Support.children(of: pid)
        #expect(!workers.isEmpty, "nginx has no worker")
        #expect(await site.reload(ports: Array(nodePorts.prefix(2))))
        #expect(await Support.waitUntil { !Support.children(of: pid).contains { workers.contains($0) } }, "the old worker still serves")
        let partial = await wizard(["apply", "--yes", "--only", "load-balancer"])
        #expect(partial.termination == .exited(code: 1), "\(partial.stdout.text)\(partial.stderr.text)")
        #expect(partial.stderr.text.contains("lb-node-not-reached") && partial.stderr.text.contains("node-c listed none of"), "\(partial.stderr.text)")

        // Stopped: the step fails naming the address, and status says it does not answer.
        kill(pid, SIGTERM)
        #expect(await Support.waitUntil { Support.hasEnded(pid) }, "nginx did not stop")
        let stopped = await wizard(["apply", "--yes", "--only", "load-balancer"])
        #expect(stopped.termination == .exited(code: 1), "\(stopped.stdout.text)\(stopped.stderr.text)")
        #expect(stopped.stderr.text.contains("lb-not-answering") && stopped.stderr.text.contains("no AMQP answer through the external load balancer at 127.0.0.1:\(port)"),
                "\(stopped.stderr.text)")
        let down = await wizard(["status"])
        #expect(down.stdout.text.contains("load balancer: the site's own (external) at 127.0.0.1:\(port), nothing changed on it: NOT VERIFIED: "
                                          + "no AMQP answer through the external load balancer at 127.0.0.1:\(port)"), "\(down.stdout.text)")
    }

    /// Three nodes: apply forms the cluster (traced for the canary) with no node's Erlang VM restarted, while an
    /// independent client connected to the seed loses nothing; each node restarted by the test comes back
    /// with the strategy and in the cluster (the files were right); a second apply changes nothing, a
    /// stopped node fails cluster-join with its name and a next action and retry completes once it is
    /// back, and the three rollbacks restore every file byte for byte and leave the nodes standalone.
    static func threeNodes(_ bed: SandboxBed) async throws {
        let canary = Support.read(bed.nodeDir("a") + "/home/.erlang.cookie")
        #expect(canary.count == 20)
        let before = bed.managedFiles()
        var outputs = ""
        let pidsBefore = bed.letters.map(bed.pid)
        #expect(pidsBefore.count == bed.count && pidsBefore.allSatisfy { !$0.isEmpty }, "a node has no pid file: \(pidsBefore)")
        // Each VM's uptime as the node says it (ms since the VM started): a restarted VM starts again from 0.
        let uptime = { (l: String) async in Int(await bed.ctl(l, ["eval", "element(1, erlang:statistics(wall_clock))."]).stdout.text
                                                    .trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1 }
        var uptimesBefore: [Int] = []
        for l in bed.letters { uptimesBefore.append(await uptime(l)) }
        #expect(uptimesBefore.count == bed.count && uptimesBefore.allSatisfy { $0 > 0 }, "\(uptimesBefore)")
        let seedPort = try #require(bed.ports().nodes.first)
        let planned = await bed.wizard(["plan"])
        #expect(planned.stdout.text.hasSuffix("restarts: none\n"), "\(planned.stdout.text)")
        let client = try await SteadyClient.start(port: seedPort, in: bed.dir)

        // 1. apply, every execve traced; a second wizard (another state folder, as on another jump host)
        // started while it runs is refused, naming it, and changes nothing; the first ends as if alone.
        let trace = bed.dir + "/trace"
        async let first = Support.traced([Support.productBinary, "apply", "--yes", "--config", bed.topology], trace: trace)
        let lockFile = bed.nodeDir("a") + "/rabbit-wizard.lock"
        #expect(await Support.waitUntil(.seconds(120)) { Support.read(lockFile).contains("\"command\":\"apply\"") }, "the first apply took no cluster lock")
        let secondState = bed.dir + "/second-state"
        let second = await bed.wizard(["apply", "--yes", "--state-dir", secondState])
        outputs += second.stdout.text + second.stderr.text
        #expect(second.termination == .exited(code: 6), "\(second.stdout.text)\(second.stderr.text)")
        #expect(second.stderr.text.contains("another rabbit-wizard is working on this cluster") && second.stderr.text.contains("(apply, state folder \(bed.state))"),
                "\(second.stderr.text)")
        let secondRecords = Support.read(secondState + "/commands.jsonl").split(separator: "\n")
        #expect(!secondRecords.isEmpty && secondRecords.allSatisfy { $0.contains("\"mutates\":false") && !$0.contains("rabbitmqctl") },
                "the second wizard ran more than its look at the lock: \(secondRecords)")
        let apply = await first
        outputs += apply.stdout + apply.stderr
        let (counts, clientOutput) = await client.stop()
        print("steady client on the seed through apply: \(counts?.description ?? clientOutput)")
        #expect(counts.map { $0.published > 0 && $0.delivered == $0.published && $0.lost == 0 && $0.disconnects == 0 && $0.failed_connects == 0 } == true,
                "the seed's client through apply: \(counts?.description ?? clientOutput)")
        #expect(bed.letters.map(bed.pid) == pidsBefore, "a node's Erlang VM was restarted by apply")
        var uptimesAfter: [Int] = []
        for l in bed.letters { uptimesAfter.append(await uptime(l)) }
        #expect(zip(uptimesBefore, uptimesAfter).allSatisfy { $0 < $1 }, "a VM's uptime went back: \(uptimesBefore) -> \(uptimesAfter)")
        #expect(!FileManager.default.fileExists(atPath: lockFile), "the first apply left its cluster lock")
        // It held the lock throughout: taken, written again every 10 s (the apply takes far longer), removed.
        let lockRecords = Support.read(bed.state + "/commands.jsonl").split(separator: "\n").filter { $0.contains("\"step\":\"cluster-lock\"") }
        #expect(lockRecords.filter { $0.contains("\"put\"") }.count >= 2 && lockRecords.last?.contains("\"remove\"") == true,
                "\(lockRecords.map { $0.prefix(300) })")
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

        // The command log is found through the topology's state_dir (no --state-dir given).
        let log = await bed.wizard(["log", "--step", "cluster-join"])
        #expect(log.termination == .exited(code: 0))
        #expect(log.stdout.text.contains("join_cluster rabbit-a@localhost"), "\(log.stdout.text.prefix(2000))")
        // No node was stopped (neither its VM nor a service): both changes were taken live.
        let records = await bed.wizard(["log", "--json"])
        let stops = records.stdout.text.split(separator: "\n").compactMap { line -> (argv: [String], step: String)? in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let argv = o["argv"] as? [String],
                argv.first?.hasSuffix("/bin/stop") == true else { return nil }
            return (argv, o["step"] as? String ?? "-")
        }
        #expect(!records.stdout.text.isEmpty && stops.isEmpty, "nodes stopped: \(stops)")
        await connectionsFollowedTheLiveCookie(bed)

        // The files are what the next boot reads: each node restarted by the test, one at a time, comes back
        // with the strategy and in the cluster.
        for l in bed.letters {
            let stopped = await bed.stop(l), started = await bed.start(l)
            #expect(stopped && started, "restart of \(l)")
            #expect(await bed.effectivePartitionHandling(l) == "{ok,pause_minority}", "\(l) after its restart")
            #expect(await bed.runningNodes(seenFrom: l)?.running == bed.letters.map(bed.nodeName).sorted(), "\(l) back in the cluster")
        }

        // 2. A second apply: 0 changes, no restart.
        let pids = bed.letters.map(bed.pid)
        let again = await bed.wizard(["apply", "--yes"])
        outputs += again.stdout.text + again.stderr.text
        #expect(again.termination == .exited(code: 0))
        #expect(!again.stdout.text.contains("applying"), "\(again.stdout.text)")
        #expect(bed.letters.map(bed.pid) == pids, "a node was restarted")
        try await statusIsTheSameWithoutConnections(bed)

        // 3. A node stopped before cluster-join: the failure names it and says what to do; retry completes.
        let undoJoin = await bed.wizard(["rollback", "cluster-join", "--yes"])
        outputs += undoJoin.stdout.text + undoJoin.stderr.text
        #expect(undoJoin.termination == .exited(code: 0), "\(undoJoin.stdout.text)\(undoJoin.stderr.text)")
        #expect(await bed.runningNodes(seenFrom: "b")?.running == [bed.nodeName("b")])
        #expect(await bed.stop("c"))
        // status does not call the checks "up to date" while a node is down: their verify runs them.
        let down = await bed.wizard(["status"])
        let checksRow = down.stdout.text.split(separator: "\n").first { $0.hasPrefix("installation-checks") } ?? ""
        #expect(checksRow.contains("not verified") && checksRow.contains("node-not-running (node-c)"), "\(down.stdout.text)")
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
        #expect(Support.lacks(bed.stateTexts(), canary), "cookie in the command log or journal")
        #expect(Support.lacks(outputs, canary), "cookie in the output")
        let traced = Support.read(trace)
        #expect(traced.contains("execve("))
        #expect(Support.lacks(traced, canary), "cookie in an execve argv or environment")
        #expect(traced.contains("\"-hidden\""), "no node connection VM was traced")

        // 6. Node connections in-process: a node killed under one, started again, a VM that cannot start.
        try await connectionScenario(bed)
    }

    /// One 2-node sandbox, shared; each test also runs alone on a sandbox of its own.
    @Suite(.serialized, .sharedSandbox(nodes: 2, basePort: 5731)) struct TwoNodes {
        /// Hostile inputs and faults (``hostileInputsAndFaults(_:)``): needs separate nodes, leaves them so.
        @Test func hardening() async throws {
            let bed = try SharedSandbox.bed
            try await bed.requireSeparate("the hardening scenario")
            try await ClusterScenarioTests.hostileInputsAndFaults(bed)
        }

        /// The conformance suite for every cluster step on real nodes (``conformance(_:)``): needs separate
        /// nodes, leaves them so.
        @Test func conformance() async throws {
            let bed = try SharedSandbox.bed
            try await bed.requireSeparate("the conformance suite")
            try await ClusterScenarioTests.conformance(bed)
        }

        /// A joiner left running with the seed's cookie but its own files (what a run cut off between the
        /// node's take and the file writes leaves): its files no longer reach it, the seed does, and the cookie
        /// step finishes it live. Then apply with the two-node warning forms the cluster, no VM restarted; and
        /// the graceful drill through a site's nginx fails no new connection while either node is down.
        @Test func apply() async throws {
            let bed = try SharedSandbox.bed
            bed.resetState()
            try await bed.requireSeparate("apply on two nodes")
            let pids = bed.letters.map(bed.pid)
            let take = "erlang:set_cookie(node(), list_to_atom(string:trim(binary_to_list(element(2, file:read_file(\"\(bed.nodeDir("a"))/home/.erlang.cookie\")))))), ok."
            let taken = await Support.run([bed.nodeDir("b") + "/bin/rabbitmqctl", "-n", bed.nodeName("b"), "eval"], stdin: .bytes(Array(take.utf8)))
            #expect(taken.termination == .exited(code: 0), "\(taken.stdout.text)\(taken.stderr.text)")
            #expect(await bed.ctl("b", ["eval", "ok."]).termination != .exited(code: 0), "node b's own files still reach it")
            let finished = await bed.wizard(["apply", "--yes", "--only", "erlang-cookie", "--waive", "erlang-distribution-failed"])
            #expect(finished.termination == .exited(code: 0) && finished.stdout.text.contains("erlang-cookie: done"), "\(finished.stdout.text)\(finished.stderr.text)")
            #expect(await bed.ctl("b", ["eval", "ok."]).termination == .exited(code: 0), "node b's files do not reach it")
            let apply = await bed.wizard(["apply", "--yes"])
            #expect(apply.termination == .exited(code: 0), "\(apply.stdout.text)\(apply.stderr.text)")
            #expect(apply.stdout.text.contains("warning two-node-cluster"))
            #expect(await bed.runningNodes(seenFrom: "b")?.running == [bed.nodeName("a"), bed.nodeName("b")])
            #expect(await bed.effectivePartitionHandling("b") == "{ok,autoheal}")
            #expect(bed.letters.map(bed.pid) == pids, "a node's Erlang VM was restarted")

            // The graceful drill through a site's nginx: with one node down the other serves alone, so the
            // second is failed only once nginx sends new connections to the first again (nginx keeps a node it
            // saw refuse out of rotation for `fail_timeout`, 10 s, even once it is back in running_nodes).
            let site = try await ClusterScenarioTests.SiteNginx.start(bed, ports: bed.ports().nodes)
            defer { site.stop() }
            let drill = await bed.wizard(["apply", "--yes", "--only", "failover-drill", "--drill-mode", "graceful", "--config", site.topology], config: false)
            #expect(drill.termination == .exited(code: 0), "\(drill.stdout.text)\(drill.stderr.text)")
            let rows = DrillRow.parse(drill.stdout.text)
            #expect(rows.count == 2 && rows.allSatisfy { $0.failed <= 1 && $0.backSeconds != nil }, "\(drill.stdout.text)")
            let again = drill.stdout.text.split(separator: "\n").filter { $0.contains(": new connections reach it again at ") }
            #expect(again.count == 2, "\(drill.stdout.text)")
            print("graceful drill on two nodes through the site's nginx: \(rows.map(\.description).joined(separator: "; ")); "
                  + again.map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: "; "))
        }
    }

    static func conformance(_ bed: SandboxBed) async throws {
        let topology = try TopologyParser.load(path: bed.topology)
        let state = try StateDirectory(path: bed.dir + "/conformance")
        // Both see the same notes (restarts owed), as every step of a run sees the same journal.
        let notes = MemoryNotes()
        let context = notes.context(try Executor(state: state))
        let dry = notes.context(try Executor(state: state, dryRun: true))
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
        // The step that only looks: read-only in a dry run and for real, nothing planned, nothing changed.
        let readOnly = await StepConformance.runReadOnly(checks, context: context, dryRun: dry, canaries: [canary], logPath: state.commandLogPath,
                                                         snapshot: snapshot)
        #expect(readOnly == [], "\(readOnly)")
        // A node name typed with the wrong case is caught, with the real name.
        var miscased = topology
        miscased.nodes[1].nodeName = NodeName(name: "rabbit-B", host: miscased.nodes[1].host)
        let caseFindings = try await InstallationChecksStep(topology: miscased).check(context)
        let mismatch = caseFindings.first { $0.name == "node-name-mismatch" }
        #expect(mismatch?.node == "node-b")
        #expect(mismatch?.message == "the host has a node named rabbit-b@localhost, not rabbit-B@localhost: node names are case-sensitive",
                "\(caseFindings)")
        #expect(mismatch?.fix == "set node_name: rabbit-b@localhost for node-b in the topology")

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
    }

    /// The load balancer on a 3-node cluster: nginx, then HAProxy, both running unprivileged from the
    /// sandbox; the AMQP probe through them, the failover drill, a broken candidate, an occupied port, and
    /// a byte-exact rollback.
    static func loadBalancerScenario(_ bed: SandboxBed) async throws {
        let lbDir = bed.dir + "/lb"
        let (nodePorts, lbPort) = bed.ports()
        let listen = try #require(lbPort)
        let apply = await bed.wizard(["apply", "--yes"])
        #expect(apply.termination == .exited(code: 0), "\(apply.stdout.text)\(apply.stderr.text)")
        var clusterNames = Set<String>()
        for l in bed.letters {
            let status = await bed.ctl(l, ["cluster_status", "--formatter", "json"])
            if let name = (try? JSONSerialization.jsonObject(with: Data(status.stdout.text.utf8)) as? [String: Any])?["cluster_name"] as? String {
                clusterNames.insert(name)
            }
        }
        let probe = AMQPProbe(host: "127.0.0.1", port: listen)
        let first = try probe.hello()
        #expect(clusterNames.contains(first.clusterName ?? ""), "\(String(describing: first.clusterName)) vs \(clusterNames)")
        #expect(first.product == "RabbitMQ")
        #expect(nodePorts.count == 3, "the sandbox's ports: \(nodePorts)")
        for port in nodePorts { #expect((try? AMQPProbe(host: "127.0.0.1", port: port).hello()) != nil) }

        // The drill through nginx, hard: each node's Erlang VM killed while a publisher and a subscriber
        // (placed on it) and new connections go through nginx. An independent client (pika, one subscriber
        // straight to each node, in the drill's vhost, which is there before and so kept) counts what
        // reached the broker: the messages the product's publisher had confirmed agree with it within one.
        #expect(await bed.ctl("a", ["add_vhost", DrillAccount.vhost]).termination == .exited(code: 0))
        #expect(await bed.ctl("a", ["set_permissions", "-p", DrillAccount.vhost, "guest", ".*", ".*", ".*"]).termination == .exited(code: 0))
        let witness = try await DrillWitness.start(endpoints: nodePorts.map { "127.0.0.1:\($0)" }, in: bed.dir)
        let vmsBefore = bed.letters.map(bed.pid)
        let drill = await bed.wizard(["apply", "--yes", "--only", "failover-drill", "--drill-mode", "hard"])
        let (runs, witnessOutput) = await witness.stop()
        #expect(drill.termination == .exited(code: 0), "\(drill.stdout.text)\(drill.stderr.text)")
        let rows = DrillRow.parse(drill.stdout.text)
        #expect(rows.map(\.node) == bed.letters.map(bed.nodeName), "\(drill.stdout.text)")
        // A kill fails at most the one new connection whose handshake is in flight at that instant (the loop
        // makes one at a time; nginx cannot move a connection whose header it already forwarded).
        #expect(rows.allSatisfy { $0.connections > 0 && $0.failed <= 1 && $0.sent > 0 && $0.gapSeconds <= 10 && $0.backSeconds != nil }, "\(rows)")
        // Placed on the failing node, the subscriber lost its connection and came back.
        let elsewhere = drill.stdout.text.split(separator: "\n").filter { $0.contains("on another node") }
        let placed = rows.filter { r in !elsewhere.contains { $0.contains(r.node.prefix(17)) } }
        #expect(!placed.isEmpty && placed.allSatisfy { $0.reconnectSeconds != nil }, "\(drill.stdout.text)")
        let vmsAfter = bed.letters.map(bed.pid)
        #expect(!vmsBefore.contains("") && zip(vmsBefore, vmsAfter).allSatisfy { $0 != $1 && !$1.isEmpty }, "each VM killed and started: \(vmsBefore) \(vmsAfter)")
        let counted = try #require(runs, "the witness printed no counts: \(witnessOutput)")
        #expect(counted.count == rows.count, "the witness saw \(counted.count) runs: \(witnessOutput)")
        for (row, run) in zip(rows, counted) {
            #expect(abs(row.acked - run.received) <= 1 && row.sent - row.lost <= run.received + 1 && row.acked <= row.sent,
                    "\(row.node): the product sent \(row.sent), RabbitMQ acked \(row.acked), lost \(row.lost); the broker got \(run.received)")
        }
        print("hard drill through nginx: \(rows.map(\.description).joined(separator: "; ")); witness: \(counted.map(\.received))")
        let users = await bed.ctl("a", ["list_users", "-q"]).stdout.text
        #expect(users.contains("guest") && !users.contains(DrillAccount.user), "the drill's user was left: \(users)")
        #expect(await bed.ctl("a", ["list_vhosts", "-q"]).stdout.text.contains(DrillAccount.vhost), "a vhost that was there before was removed")

        // A gap over the limit fails the drill at the first node, naming the gap; the others are not failed.
        let strict = await bed.wizard(["apply", "--yes", "--only", "failover-drill", "--max-gap", "0.1"])
        #expect(strict.termination == .exited(code: 1), "\(strict.stdout.text)\(strict.stderr.text)")
        #expect(strict.stderr.text.contains("the drill failed: \(bed.nodeName("a")): messages stopped for")
                && strict.stderr.text.contains("over the limit of 0.1 s (--max-gap); not failed after it: \(bed.nodeName("b")), \(bed.nodeName("c"))"),
                "\(strict.stderr.text)")
        #expect(DrillRow.parse(strict.stdout.text).count == 1, "\(strict.stdout.text)")

        // A broken candidate (the stream module is gone): nginx's own words, nothing activated.
        let conf = Support.read(lbDir + "/nginx.conf")
        unlink(lbDir + "/modules/ngx_stream_module.so")
        let topology = Support.read(bed.topology)
        Support.write(topology.replacingOccurrences(of: "  listen_port: \(listen)\n", with: "  listen_port: \(listen)\n  idle_timeout: 7200\n"), to: bed.topology)
        let broken = await bed.wizard(["apply", "--yes", "--only", "load-balancer"])
        #expect(broken.termination == .exited(code: 1))
        #expect(broken.stderr.text.contains("ngx_stream_module.so"), "\(broken.stderr.text)")
        #expect(Support.read(lbDir + "/nginx.conf") == conf, "the running configuration changed")
        #expect(!FileManager.default.fileExists(atPath: lbDir + "/nginx.conf.rabbit-wizard-candidate"))
        #expect(clusterNames.contains((try? probe.hello())?.clusterName ?? ""), "the running nginx stopped serving")

        // A real change, then rollback: the previous configuration byte for byte.
        symlink("/usr/lib/nginx/modules/ngx_stream_module.so", lbDir + "/modules/ngx_stream_module.so")
        let changed = await bed.wizard(["apply", "--yes", "--only", "load-balancer"])
        #expect(changed.termination == .exited(code: 0), "\(changed.stdout.text)\(changed.stderr.text)")
        #expect(Support.read(lbDir + "/nginx.conf").contains("proxy_timeout 7200s;"))
        let undo = await bed.wizard(["rollback", "load-balancer", "--yes"])
        #expect(undo.termination == .exited(code: 0), "\(undo.stdout.text)\(undo.stderr.text)")
        #expect(Support.read(lbDir + "/nginx.conf") == conf)
        #expect(clusterNames.contains((try? probe.hello())?.clusterName ?? ""))

        // The conformance suite on the load balancer step, in-process on the running nginx: the topology's
        // idle time-out (7200) is not what nginx runs, so it has work; rollback gives the configuration back
        // byte for byte and nginx serves it.
        let parsed = try TopologyParser.load(path: bed.topology)
        let lbSpec = try #require(parsed.loadBalancer)
        let lbState = try StateDirectory(path: bed.dir + "/lb-conformance")
        let lbContext = StepContext(executor: try Executor(state: lbState)), lbDry = StepContext(executor: try Executor(state: lbState, dryRun: true))
        let lbSnapshot: @Sendable () async -> [String] = {
            [Support.read(lbDir + "/nginx.conf"), String(SandboxBed.file(lbDir + "/nginx.conf").mode, radix: 8),
             (try? AMQPProbe(host: "127.0.0.1", port: listen).hello())?.product ?? "no answer"]
        }
        let lbFailures = await StepConformance.run(LoadBalancerStep(topology: parsed, loadBalancer: lbSpec, kind: try #require(lbSpec.kind)), context: lbContext, dryRun: lbDry,
                                                   snapshot: lbSnapshot)
        #expect(lbFailures == [], "\(lbFailures)")
        await lbContext.executor.shutdown()

        // Retention: three more applies and rollbacks kept to 2 backups per file and 3 journal runs, plus
        // what a rollback still needs; old definitions exports of node-b (planted, as earlier setups leave
        // them) pruned the same way. The last rollback still restores byte for byte, and the journal still
        // says what it said (every step's recorded state).
        let recordedBefore = try Self.recordedStates(await bed.wizard(["status", "--json"]).stdout.text)
        let planted = (1...4).map { "\(bed.nodeDir("b"))/rabbit-wizard-definitions-node-b-100000000\($0).json" }
        for p in planted { Support.write("{}", to: p) }
        for cycle in 1...3 {
            Support.write(topology.replacingOccurrences(of: "  listen_port: \(listen)\n", with: "  listen_port: \(listen)\n  idle_timeout: \(7000 + cycle)\n"),
                          to: bed.topology)
            let keep = ["--keep-backups", "2", "--keep-runs", "3"]
            let applied = await bed.wizard(["apply", "--yes", "--only", "load-balancer"] + keep)
            #expect(applied.termination == .exited(code: 0), "\(applied.stdout.text)\(applied.stderr.text)")
            #expect(Support.read(lbDir + "/nginx.conf").contains("proxy_timeout \(7000 + cycle)s;"))
            let undone = await bed.wizard(["rollback", "load-balancer", "--yes"] + keep)
            #expect(undone.termination == .exited(code: 0), "\(undone.stdout.text)\(undone.stderr.text)")
        }
        #expect(Support.read(lbDir + "/nginx.conf") == conf, "the last rollback did not restore the configuration")
        #expect(try Self.recordedStates(await bed.wizard(["status", "--json"]).stdout.text) == recordedBefore)
        let journalDir = bed.state + "/journal"
        let runFiles = ((try? FileManager.default.contentsOfDirectory(atPath: journalDir)) ?? []).filter { $0.hasSuffix(".journal") }
        // The newest 3, and at most one older run per step whose undo data or evidence is still current.
        #expect(runFiles.count <= 3 + 4, "\(runFiles.count) journal run files")
        let named = Set(runFiles.flatMap { f in
            // Undo data is JSON inside the entry's JSON: its slashes come escaped once or twice.
            Support.read(journalDir + "/" + f).replacingOccurrences(of: #"\\/"#, with: "/").replacingOccurrences(of: #"\/"#, with: "/")
                .matches(of: /\/[^"\\ ]*rabbit-wizard-[^"\\ ]*\.(bak|json)/).map { String($0.output.0) }
        })
        #expect(!named.isEmpty, "the journal names no backup: the pattern above does not read it")
        for path in named { #expect(FileManager.default.fileExists(atPath: path), "\(path), named by the journal, was removed") }
        // At most the newest 2 of each, besides the ones the journal names.
        func overLimit(_ dir: String, _ prefix: String, _ suffix: String) -> [String] {
            let all = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix(prefix) && $0.hasSuffix(suffix) }
                .map { dir + "/" + $0 }
            return all.count > 2 + all.filter(named.contains).count ? all.sorted() : []
        }
        #expect(overLimit(lbDir, "nginx.conf.rabbit-wizard-", ".bak") == [])
        #expect(overLimit(bed.nodeDir("b"), "rabbit-wizard-definitions-node-b-", ".json") == [])
        #expect(!FileManager.default.fileExists(atPath: planted[0]), "the oldest export was kept")
        let status = await bed.wizard(["status"])
        #expect(status.stdout.text.contains("kept on this machine (node-a, node-b, node-c, load balancer): "), "\(status.stdout.text)")

        // HAProxy on the same port: refused while nginx still holds it, then in place of it.
        Support.write(topology.replacingOccurrences(of: "kind: nginx", with: "kind: haproxy"), to: bed.topology)
        let occupied = await bed.wizard(["apply", "--yes", "--only", "load-balancer"])
        #expect(occupied.termination == .exited(code: 1))
        #expect(occupied.stderr.text.contains("lb-port-in-use"), "\(occupied.stderr.text)")
        #expect(!FileManager.default.fileExists(atPath: lbDir + "/haproxy.cfg"))
        if let pid = Int32(Support.read(lbDir + "/nginx.pid").trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(pid, SIGTERM)
            #expect(await Support.waitUntil { kill(pid, 0) != 0 })
        }
        // No load balancer running: the drill fails before it fails any node, naming why.
        let noLB = await bed.wizard(["apply", "--yes", "--only", "failover-drill"])
        #expect(noLB.termination == .exited(code: 1), "\(noLB.stdout.text)\(noLB.stderr.text)")
        #expect((noLB.stdout.text + noLB.stderr.text).contains("lb-not-running"), "\(noLB.stdout.text)\(noLB.stderr.text)")
        #expect(DrillRow.parse(noLB.stdout.text).isEmpty)
        let haproxy = await bed.wizard(["apply", "--yes", "--only", "load-balancer"])
        #expect(haproxy.termination == .exited(code: 0), "\(haproxy.stdout.text)\(haproxy.stderr.text)")
        #expect(clusterNames.contains((try? probe.hello())?.clusterName ?? ""))
        let drill2 = await bed.wizard(["apply", "--yes", "--only", "failover-drill"])
        #expect(drill2.termination == .exited(code: 0), "\(drill2.stdout.text)\(drill2.stderr.text)")
        let rows2 = DrillRow.parse(drill2.stdout.text)
        #expect(rows2.count == 3 && rows2.allSatisfy { $0.connections > 0 && $0.failed == 0 && $0.sent > 0 && $0.backSeconds != nil }, "\(drill2.stdout.text)")
        #expect(drill2.stdout.text.contains("Failover drill (graceful) through haproxy"))

        // The hand-off: vhost and user created, a real login through the load balancer; the password
        // nowhere; a wrong password and a missing vhost each refused with a clear message.
        // A vhost that differs from the topology's only in case (older OutSystems scripts made /OutSystems)
        // is named, read from the cluster's own list; the operator is told not to press Create/Upgrade.
        let password = "Hand-off-\(UUID().uuidString.prefix(8))"
        Support.write(password + "\n", to: bed.dir + "/password")
        #expect(await bed.ctl("a", ["add_vhost", "/OutSystems"]).termination == .exited(code: 0))
        let handoff = await bed.wizard(["apply", "--yes", "--only", "outsystems-handoff", "--outsystems-password-file", bed.dir + "/password"])
        #expect(handoff.termination == .exited(code: 0), "\(handoff.stdout.text)\(handoff.stderr.text)")
        #expect(handoff.stdout.text.contains("Host 127.0.0.1, Port \(listen), Virtual Host /outsystems, Username outsystems"))
        #expect(handoff.stdout.text.contains("Do not press 'Create/Upgrade Service'"), "\(handoff.stdout.text)")
        #expect(handoff.stdout.text.contains("outsystems-vhost-case: the cluster has the vhost /OutSystems, the topology names /outsystems"),
                "\(handoff.stdout.text)")
        #expect(await bed.ctl("a", ["delete_vhost", "/OutSystems"]).termination == .exited(code: 0))
        #expect(throws: Never.self) { try probe.login(user: "outsystems", password: Secret(password), vhost: "/outsystems") }
        // Each must be refused, and for its own reason (a login that wrongly succeeds fails the test too).
        let wrongPassword = Result { () throws(AMQPProbe.Failure) in try probe.login(user: "outsystems", password: Secret("wrong"), vhost: "/outsystems") }
        let missingVhost = Result { () throws(AMQPProbe.Failure) in try probe.login(user: "outsystems", password: Secret(password), vhost: "/missing") }
        guard case .failure(.authenticationRefused) = wrongPassword else { Issue.record("wrong password gave \(wrongPassword)"); return }
        guard case .failure(.vhostRefused) = missingVhost else { Issue.record("missing vhost gave \(missingVhost)"); return }
        #expect(Support.lacks(bed.stateTexts(), password), "the password is in the log or journal")
        #expect(!(handoff.stdout.text + handoff.stderr.text).contains(password))

        // The conformance suite on the hand-off, in-process, once the CLI has rolled it back: the vhost and the
        // user come and go, the password (a canary) never reaches the command log.
        let handoffUndone = await bed.wizard(["rollback", "outsystems-handoff", "--yes"])
        #expect(handoffUndone.termination == .exited(code: 0), "\(handoffUndone.stdout.text)\(handoffUndone.stderr.text)")
        let handoffParsed = try TopologyParser.load(path: bed.topology)
        let handoffState = try StateDirectory(path: bed.dir + "/handoff-conformance")
        let secrets = [OutSystemsHandoffStep.passwordKey: Secret(password)]
        let handoffContext = StepContext(executor: try Executor(state: handoffState), secrets: secrets)
        let handoffDry = StepContext(executor: try Executor(state: handoffState, dryRun: true), secrets: secrets)
        let accounts: @Sendable () async -> [String] = {
            [await bed.ctl("a", ["list_vhosts", "-q"]).stdout.text, await bed.ctl("a", ["list_users", "-q"]).stdout.text]
        }
        let handoffFailures = await StepConformance.run(OutSystemsHandoffStep(topology: handoffParsed, loadBalancer: try #require(handoffParsed.loadBalancer)),
                                                        context: handoffContext, dryRun: handoffDry, canaries: [password],
                                                        logPath: handoffState.commandLogPath, snapshot: accounts)
        #expect(handoffFailures == [], "\(handoffFailures)")
        await handoffContext.executor.shutdown()
        let bad = "bad(pass)"
        Support.write(bad, to: bed.dir + "/password")
        let rejected = await bed.wizard(["apply", "--yes", "--only", "outsystems-handoff", "--outsystems-password-file", bed.dir + "/password"])
        #expect(rejected.termination == .exited(code: 1))
        #expect(rejected.stderr.text.contains("outsystems-password-characters"))
    }
}

extension ClusterScenarioTests {
    /// Each step's recorded state from `status --json`.
    static func recordedStates(_ json: String) throws -> [String: String] {
        let o = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let steps = try #require(o["steps"] as? [[String: Any]])
        return Dictionary(uniqueKeysWithValues: steps.compactMap { s in (s["id"] as? String).map { ($0, "\(s["recorded"] ?? "")") } })
    }
}
