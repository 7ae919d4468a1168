import Executor
import Foundation
import Glibc
import RabbitSetup
import TestKit
import Testing

extension ClusterScenarioTests {
    /// The product over ssh against real separate hosts with the Debian layout (`Tests/netbed`): RabbitMQ
    /// started on ServerA, ServerB and ServerC by Debian's own service command, each with its own cookie;
    /// the controller's known_hosts enrolled through `known-hosts add`; two name traps caught before
    /// anything changes; `apply` forms the cluster and puts nginx on LB in front of it, with ServerC's ssh
    /// connections dropped during its join (unknown, then reconciled by the next apply); `status` from the
    /// controller; the failover drill; a silent link cut through LB; a partition longer than the net tick
    /// time, reported by `status`, recorded, and ended by the guided repair; the bed leaves no namespace, mount, process or
    /// file behind. Runs in the serialized cluster suite (one cluster at a time on 2 cores).
    @Test func debianHostsOverSSH() async throws {
        let timings = Timings()
        let dir = "/tmp/rw-netbed-test"
        let netnsFolderExisted = FileManager.default.fileExists(atPath: "/etc/netns")
        let bed = try await timings.time("up") { try await NetBed.up(dir: dir) }
        var pids: [Int32] = []
        // Hosts: own names and resolution, the Debian service starts each node as rabbit@HOST.
        #expect(await bed.run("ServerB", ["hostname"]).stdout.text == "ServerB\n")
        #expect(await bed.run("ServerC", ["getent", "hosts", "ServerA"]).stdout.text.hasPrefix(bed.address("ServerA")))
        let started = await timings.time("rabbitmq start x3") {
            await withTaskGroup(of: Int32?.self) { group in
                for h in NetBed.servers { group.addTask { if case .exited(let code) = await bed.run(h, ["service", "rabbitmq-server", "start"]).termination { return code } else { return nil } } }
                return await group.reduce(into: []) { $0.append($1) }
            }
        }
        #expect(started == [0, 0, 0], "service rabbitmq-server start: \(started)")
        let cookies = NetBed.servers.map { Support.read("\(dir)/hosts/\($0)/var-lib-rabbitmq/.erlang.cookie") }
        #expect(Set(cookies).count == 3 && cookies.allSatisfy { $0.count == 20 }, "each host has its own cookie")
        let canary = cookies[0]
        // Each node's Erlang VM, as the node itself says: apply restarts none of them.
        let vmPid = { (h: String) async in await bed.ctl(h, ["eval", "os:getpid()."]).stdout.text.trimmingCharacters(in: .whitespacesAndNewlines) }
        var vmPids: [String] = []
        for h in NetBed.servers { vmPids.append(await vmPid(h)) }
        #expect(vmPids.count == NetBed.servers.count && vmPids.allSatisfy { $0.count > 2 }, "\(vmPids)")

        // The controller: topology over ssh (addresses, so this namespace needs no host names), host keys
        // enrolled through the product with the fingerprints the bed generated.
        let state = dir + "/state"
        let topology = dir + "/topology.yml"
        Support.write(Self.topology(bed, state: state), to: topology)
        let env = bed.env
        for h in NetBed.servers + ["LB"] {
            let enrol = await Support.run([Support.productBinary, "known-hosts", "add", "ssh://root@\(bed.address(h))",
                                           "--fingerprint", env["FP_\(h)"] ?? "?", "--state-dir", state])
            #expect(enrol.termination == .exited(code: 0), "\(h): \(enrol.stdout.text)\(enrol.stderr.text)")
        }
        let wizard: Wizard = { (args: [String]) async -> TransportOutcome in
            await Support.run([Support.productBinary] + args + ["--config", topology, "--identity", env["KEY"] ?? "?"], timeout: .seconds(600))
        }

        await nameTraps(bed, topology: topology, state: state, wizard: wizard, timings: timings)
        #expect(NetBed.servers.map { Support.read("\(dir)/hosts/\($0)/var-lib-rabbitmq/.erlang.cookie") } == cookies, "a trap let apply change a cookie")

        // An independent client on the seed (ServerA, the live server), inside its host (RabbitMQ's guest
        // connects from loopback only), through both applies below.
        let (launch, launchEnv) = bed.launcher("ServerA")
        let seedClient = try await SteadyClient.start(port: 5672, in: dir, launcher: launch, environment: launchEnv)

        // ServerC's ssh connections dropped while its join_cluster runs: the outcome is unknown (not
        // "exit 255"), nothing more is sent to it; the next apply reconciles from what the node shows.
        let dropped = Task { await Self.dropSSH(bed, "ServerC", whenRunning: "join_cluster") }
        let cut = await timings.time("apply, ssh dropped") { await wizard(["apply", "--yes"]) }
        let drops = await dropped.value
        #expect(drops > 0, "join_cluster never seen on ServerC")
        let cutText = cut.stdout.text + cut.stderr.text
        #expect(cut.termination != .exited(code: 0) && cutText.contains("the connection dropped") && cutText.contains("outcome is unknown"), "\(cutText)")
        let unknown = await wizard(["status"]).stdout.text
        #expect(unknown.contains("cluster-join: interrupted (outcome unknown)"), "\(unknown)")
        let apply = await timings.time("apply, reconciled") { await wizard(["apply", "--yes"]) }
        #expect(apply.termination == .exited(code: 0), "\(apply.stdout.text)\(apply.stderr.text)")
        #expect(apply.stdout.text.contains("cluster-join: was interrupted; observed"), "\(apply.stdout.text)")
        let members = NetBed.servers.map { "rabbit@\($0)" }
        for h in NetBed.servers {
            let json = await bed.ctl(h, ["cluster_status", "--formatter", "json"]).stdout.text
            let status = ClusterStatus(json: json)
            #expect(status?.runningNodes.sorted() == members, "cluster as \(h) sees it: \(json.prefix(400))")
            #expect(status?.partitions.values.allSatisfy(\.isEmpty) == true)
            let effective = await bed.ctl(h, ["eval", "application:get_env(rabbit, cluster_partition_handling)."]).stdout.text
            #expect(effective.contains("{ok,autoheal}"), "\(h): \(effective)")
        }
        #expect(Set(NetBed.servers.map { Support.read("\(dir)/hosts/\($0)/var-lib-rabbitmq/.erlang.cookie") }) == [canary])
        let (counts, clientOutput) = await seedClient.stop()
        timings.entries.append("seed client through both applies: \(counts?.description ?? clientOutput)")
        #expect(counts.map { $0.published > 0 && $0.delivered == $0.published && $0.lost == 0 && $0.disconnects == 0 && $0.failed_connects == 0 } == true,
                "the seed's client through apply: \(counts?.description ?? clientOutput)")
        var vmPidsAfter: [String] = []
        for h in NetBed.servers { vmPidsAfter.append(await vmPid(h)) }
        #expect(vmPidsAfter == vmPids, "a node's Erlang VM was restarted by apply")
        let records = Support.read(state + "/commands.jsonl").split(separator: "\n")
        let serviceCalls = records.filter { $0.contains(#""argv":["service","rabbitmq-server""#) }
        #expect(!records.isEmpty && serviceCalls.isEmpty, "apply moved a RabbitMQ service: \(serviceCalls.map { $0.prefix(200) })")
        // The files are what the next boot reads: each node's service restarted by the test, one at a time,
        // comes back with the strategy and in the cluster.
        await timings.time("restart x3, one at a time") {
            for h in NetBed.servers {
                #expect(await bed.run(h, ["service", "rabbitmq-server", "restart"], timeout: .seconds(180)).termination == .exited(code: 0), "restart of \(h)")
                _ = await bed.ctl(h, ["await_startup"])
                let effective = await bed.ctl(h, ["eval", "application:get_env(rabbit, cluster_partition_handling)."]).stdout.text
                #expect(effective.contains("{ok,autoheal}"), "\(h) after its restart: \(effective)")
                let json = await bed.ctl(h, ["cluster_status", "--formatter", "json"]).stdout.text
                #expect(ClusterStatus(json: json)?.runningNodes.sorted() == members, "\(h) back in the cluster: \(json.prefix(400))")
            }
        }
        // OutSystems' view: an AMQP handshake through LB answers as the cluster. RabbitMQ's cluster name is a
        // runtime parameter nobody has set here, so each member answers with its own node name
        // (`rabbit_nodes:cluster_name/0`), and which member answers is nginx's round-robin's choice.
        let lb = bed.address("LB")
        let hello = await Task.detached { try? AMQPProbe(host: lb, port: 5672).hello() }.value
        #expect(members.contains(hello?.clusterName ?? "?"), "through LB: \(String(describing: hello)), members \(members)")

        let status = await timings.time("status") { await wizard(["status"]) }
        #expect(status.termination == .exited(code: 0))
        let rows = status.stdout.text.split(separator: "\n").filter { $0.contains("  ") }
        let handoff = rows.filter { $0.hasPrefix("outsystems-handoff") }
        let cluster = rows.filter { !$0.hasPrefix("failover-drill") && !$0.hasPrefix("outsystems-handoff") }
        #expect(cluster.count == 5 && cluster.allSatisfy { $0.contains("up to date (verified)") }, "\(status.stdout.text)")
        // No password was given: the values were shown, nothing was checked, and it is not called done.
        #expect(handoff.count == 1 && handoff.allSatisfy { $0.contains("login not checked") && !$0.contains(" done ") }, "\(status.stdout.text)")
        #expect(status.stdout.text.contains("cluster: 3 of 3 nodes running"), "\(status.stdout.text)")

        // The failover drill over ssh with each node's link cut silently in turn (no RST, no ICMP), through
        // the bed's own program: a publisher and a subscriber placed on the node, new connections through LB.
        // nginx waits proxy_connect_timeout (2 s) on the silent node once: the slowest handshake shows the cut
        // was hit. The limit is 30 s, not the default 10: while a node is silent (8 s here) RabbitMQ 3.10's
        // metadata (the reconnected subscriber's new exclusive queue) waits on it, and after the link is back
        // TCP's retransmission back-off adds seconds; the gap is reported (timings line), not hidden. An
        // independent client (pika, one subscriber straight to each node as a user of the test's) counts what
        // reached the broker: the messages RabbitMQ confirmed to the product's publisher agree within one.
        let witnessPassword = "witness-\(UUID().uuidString.prefix(8))"
        #expect(await bed.ctl("ServerA", ["add_vhost", DrillAccount.vhost]).termination == .exited(code: 0))
        let addWitness = await bed.run("ServerA", ["sh", "-c", "printf '%s\\n' \"$1\" | rabbitmqctl add_user witness", "sh", witnessPassword])
        #expect(addWitness.termination == .exited(code: 0), "\(addWitness.stdout.text)\(addWitness.stderr.text)")
        #expect(await bed.ctl("ServerA", ["set_permissions", "-p", DrillAccount.vhost, "witness", ".*", ".*", ".*"]).termination == .exited(code: 0))
        let witness = try await DrillWitness.start(endpoints: NetBed.servers.map { "\(bed.address($0)):5672" }, in: dir,
                                                   environment: ["WITNESS_USER": "witness", "WITNESS_PASSWORD": witnessPassword])
        let cutProgram = bed.linkCutProgram
        let drill = await timings.time("drill, link cut") {
            await Support.run([Support.productBinary, "apply", "--yes", "--only", "failover-drill", "--drill-mode", "link-cut", "--max-gap", "30", "--config", topology,
                               "--identity", env["KEY"] ?? "?"], timeout: .seconds(600), environment: [DrillMode.linkCutVariable: cutProgram])
        }
        let (runs, witnessOutput) = await witness.stop()
        #expect(drill.termination == .exited(code: 0), "\(drill.stdout.text)\(drill.stderr.text)")
        let drillRows = DrillRow.parse(drill.stdout.text)
        timings.entries.append("link-cut drill: \(drillRows.map(\.description).joined(separator: "; ")); witness: \(runs.map { $0.map(\.received) } ?? [])")
        #expect(drillRows.map(\.node) == NetBed.servers.map { "rabbit@\($0)" }, "\(drill.stdout.text)")
        #expect(drillRows.allSatisfy { $0.connections > 0 && $0.failed == 0 && $0.sent > 0 && $0.gapSeconds <= 30 && $0.backSeconds != nil }, "\(drillRows)")
        #expect(drillRows.allSatisfy { $0.slowestMilliseconds >= 2000 }, "a cut that no new connection met (nginx's connect time-out is 2 s): \(drillRows)")
        let counted = try #require(runs, "the witness printed no counts: \(witnessOutput)")
        #expect(counted.count == drillRows.count, "the witness saw \(counted.count) runs: \(witnessOutput)")
        for (row, run) in zip(drillRows, counted) {
            #expect(abs(row.acked - run.received) <= 1 && row.sent - row.lost <= run.received + 1 && row.acked <= row.sent,
                    "\(row.node): the product sent \(row.sent), RabbitMQ acked \(row.acked), lost \(row.lost); the broker got \(run.received)")
        }
        // Every link restored: each node answers AMQP from the controller again.
        for h in NetBed.servers {
            let address = bed.address(h)
            #expect(await Task.detached { (try? AMQPProbe(host: address, port: 5672).hello()) != nil }.value, "\(h) after the drill")
        }

        // `watch --messages` for 14 s with ServerA's link cut for 6 s in the middle: new connections and
        // messages through LB. ServerA, whose cut in the drill ended longest ago: nginx keeps a node it found
        // silent out of rotation for 10 s (fail_timeout), and the last one cut would not be met. The cut
        // comes once watch's clients run: connected as the drill's user, so its account is complete (it adds
        // the user, then its permissions, and RabbitMQ cannot change either while a node is silent and not yet
        // declared down, net_ticktime). The user alone is not enough: a cut between the user and its
        // permissions makes set_permissions wait it out, and watch would run its 14 s after the cut.
        // The limit is the drill's on the bed, 30 s.
        async let watching = wizard(["watch", "--seconds", "14", "--messages", "--max-gap", "30"])
        let added = await Support.waitUntil(.seconds(60), every: .milliseconds(200)) {
            await bed.ctl("ServerB", ["list_connections", "user", "--quiet", "--no-table-headers"]).stdout.text.contains(DrillAccount.user)
        }
        #expect(added, "watch --messages's clients never connected as its user")
        #expect(await bed.link("ServerA", "down").termination == .exited(code: 0))
        try? await Task.sleep(for: .seconds(6))  // how long the cable stays pulled: the disruption itself, not a wait
        #expect(await bed.link("ServerA", "up").termination == .exited(code: 0))
        let watched = await watching
        let result = watched.stdout.text.split(separator: "\n").last.map(String.init) ?? ""
        timings.entries.append("link cut, watch: \(result)")
        #expect(watched.termination == .exited(code: 0), "\(watched.stdout.text)\(watched.stderr.text)")
        // No new connection failed, one met the cut (nginx's 2 s connect time-out), messages went through.
        let numbers = result.split(whereSeparator: { $0 == " " || $0 == "," || $0 == ";" }).compactMap { Int($0) }
        #expect(numbers.count >= 8 && numbers[0] >= 1 && numbers[1] == 0 && numbers[2] >= 2000 && numbers[4] > 0, "link cut: \(result)")
        let witnessUser = await bed.ctl("ServerA", ["delete_user", "witness"])
        #expect(witnessUser.termination == .exited(code: 0))

        await partitionRepairedByTheGuidedRepair(bed, dir: dir, wizard: wizard, timings: timings)
        try await loadBalancerPair(bed, dir: dir, state: state, timings: timings)

        #expect(!(cutText + apply.stdout.text + apply.stderr.text + status.stdout.text + drill.stdout.text).contains(canary), "cookie in the output")
        let logs = Support.read(state + "/commands.jsonl") + ((try? FileManager.default.contentsOfDirectory(atPath: state + "/journal")) ?? [])
            .map { Support.read(state + "/journal/" + $0) }.joined()
        #expect(logs.contains("service") && Support.lacks(logs, canary), "cookie in the command log or journal")
        for h in NetBed.servers + ["LB", "LB2"] { pids += await bed.processes(h) }
        #expect(!pids.isEmpty)

        // Down: nothing of the bed is left.
        let down = await timings.time("down") { await bed.down() }
        #expect(down.termination == .exited(code: 0), "\(down.stdout.text)\(down.stderr.text)")
        #expect(await NetBed.namespaces() == [])
        #expect(!Support.read("/proc/mounts").contains(dir))
        #expect(!FileManager.default.fileExists(atPath: dir))
        #expect(FileManager.default.fileExists(atPath: "/etc/netns") == netnsFolderExisted)
        let survivors = pids.filter { !Support.hasEnded($0) }
        #expect(survivors.isEmpty, "still running after down: \(survivors)")
        print("netbed timings: " + timings.entries.joined(separator: ", "))
    }

    typealias Wizard = @Sendable ([String]) async -> TransportOutcome

    /// The same cluster behind a pair, LB and LB2, holding the bed's free address NET.30 with keepalived.
    /// An independent client (pika, through the floating address only) and the controller's own neighbour
    /// table (which host's MAC answers for the address) watch while the drill kills the active host's
    /// nginx and, once it is back, the test cuts the new active host's link: the address moves each time.
    /// Rolling back floating-address and load-balancer leaves both hosts' files and processes as they were.
    func loadBalancerPair(_ bed: NetBed, dir: String, state: String, timings: Timings) async throws {
        let env = bed.env
        let (lb1, lb2) = (bed.address("LB"), bed.address("LB2"))
        let floating = lb1.split(separator: ".").dropLast().joined(separator: ".") + ".30"
        let enrol = await Support.run([Support.productBinary, "known-hosts", "add", "ssh://root@\(lb2)", "--fingerprint", env["FP_LB2"] ?? "?", "--state-dir", state])
        #expect(enrol.termination == .exited(code: 0), "\(enrol.stdout.text)\(enrol.stderr.text)")
        let single = Self.topology(bed, state: state)
        let topology = dir + "/pair.yml"
        Support.write(String(single[..<single.range(of: "load_balancer:")!.lowerBound]) + """
            load_balancer:
              kind: nginx
              host: \(floating)
              listen_port: 5672
              pair:
                - reach: ssh://root@\(lb1)
                - reach: ssh://root@\(lb2)

            """, to: topology)
        let wizard = { (args: [String]) async -> TransportOutcome in
            await Support.run([Support.productBinary] + args + ["--config", topology, "--identity", env["KEY"] ?? "?"], timeout: .seconds(600))
        }
        // Each host as it is: the files of its load balancers and keepalived (but the wizard's backups, which
        // stay by design until retention prunes them), and what runs there.
        func snapshot(_ h: String) async -> [String] {
            var out: [String] = []
            for folder in ["etc-nginx", "etc-haproxy", "etc-keepalived"] {
                let root = "\(dir)/hosts/\(h)/\(folder)"
                for f in ((try? FileManager.default.subpathsOfDirectory(atPath: root)) ?? []).sorted() where !f.contains(".rabbit-wizard-") {
                    out.append("\(folder)/\(f): \(Support.read(root + "/" + f))")
                }
            }
            out.append("nginx running: \(bed.isRunning(h, "nginx")), keepalived running: \(bed.isRunning(h, "keepalived"))")
            out.append("holds \(floating): " + String(await bed.run(h, ["ip", "-o", "-4", "addr", "show"]).stdout.text.contains(" \(floating)/")))
            out.append("state file: \(FileManager.default.fileExists(atPath: "\(dir)/hosts/\(h)/run/rabbit-wizard-vrrp.state"))")
            return out
        }
        let before = [await snapshot("LB"), await snapshot("LB2")]
        #expect(before.allSatisfy { $0.count > 4 }, "\(before)")
        func vrrp(_ h: String) -> String { Support.read("\(dir)/hosts/\(h)/run/rabbit-wizard-vrrp.state").trimmingCharacters(in: .whitespacesAndNewlines) }

        let apply = await timings.time("pair: apply") { await wizard(["apply", "--yes"]) }
        #expect(apply.termination == .exited(code: 0), "\(apply.stdout.text)\(apply.stderr.text)")
        #expect(apply.stdout.text.contains("floating-address: done") && apply.stdout.text.contains("Host \(floating), Port 5672"), "\(apply.stdout.text)")
        let status = await wizard(["status"])
        let line = status.stdout.text.split(separator: "\n").first { $0.hasPrefix("load balancer: ") }.map(String.init) ?? ""
        #expect(line.contains("nginx on the pair \(lb1) (") && line.contains("floating address \(floating):5672: answers as this cluster"), "\(status.stdout.text)")
        let states = [vrrp("LB"), vrrp("LB2")]
        #expect(states.sorted() == ["BACKUP", "MASTER"] && line.contains("(\(states[0]))") && line.contains("(\(states[1]))"), "\(states) \(line)")
        let active = states[0] == "MASTER" ? "LB" : "LB2", standby = active == "LB" ? "LB2" : "LB"
        // Each host's MAC from its own network namespace (netlink; /sys there shows this namespace's devices).
        func mac(_ h: String) async -> String {
            let words = await bed.run(h, ["ip", "-o", "link", "show", "eth0"]).stdout.text.split(separator: " ").map(String.init)
            return words.firstIndex(of: "link/ether").map { words[$0 + 1] } ?? "?"
        }
        let macs = [active: await mac(active), standby: await mac(standby)]
        #expect(Set(macs.values).count == 2 && !macs.values.contains("?"), "\(macs)")

        // The independent client through the floating address only, and the controller's neighbour entry for it.
        let password = "pair-\(UUID().uuidString.prefix(8))"
        let added = await bed.run("ServerA", ["sh", "-c", "printf '%s\\n' \"$1\" | rabbitmqctl add_user pairclient && rabbitmqctl set_permissions pairclient '.*' '.*' '.*'", "sh", password])
        #expect(added.termination == .exited(code: 0), "\(added.stdout.text)\(added.stderr.text)")
        let client = try await SteadyClient.start(port: 5672, in: dir, host: floating, environment: ["STEADY_USER": "pairclient", "STEADY_PASSWORD": password])
        let watcher = Task { () -> [String] in
            var seen: [String] = []
            while !Task.isCancelled {
                let words = await Support.run(["ip", "neigh", "show", floating]).stdout.text.split(separator: " ").map(String.init)
                if let i = words.firstIndex(of: "lladdr"), i + 1 < words.count, words[i + 1] != seen.last { seen.append(words[i + 1]) }
                try? await Task.sleep(for: .milliseconds(100))  // the sampling interval of the watch, not a wait for something
            }
            return seen
        }

        // The drill: each node's VM killed, then the active host's nginx (its process group).
        let drill = await timings.time("pair: drill, hard") { await wizard(["apply", "--yes", "--only", "failover-drill", "--drill-mode", "hard"]) }
        #expect(drill.termination == .exited(code: 0), "\(drill.stdout.text)\(drill.stderr.text)")
        let rows = DrillRow.parse(drill.stdout.text)
        #expect(rows.map(\.node) == NetBed.servers.map { "rabbit@\($0)" } + ["lb@\(bed.address(active))"], "\(drill.stdout.text)")
        let lbRow = rows.last
        #expect(lbRow.map { $0.connections > 0 && $0.sent > 0 && $0.backSeconds != nil && $0.gapSeconds <= 10 } == true, "\(drill.stdout.text)")
        timings.entries.append("pair: active nginx killed: \(lbRow?.description ?? "no row")")
        #expect([vrrp(active), vrrp(standby)] == ["BACKUP", "MASTER"], "after the drill: \(active) \(vrrp(active)), \(standby) \(vrrp(standby))")

        // The new active host's link cut silently: the first one takes the address again.
        #expect(await bed.link(standby, "down").termination == .exited(code: 0))
        let cutAt = ContinuousClock.now
        let moved = await Support.waitUntil(.seconds(30), every: .milliseconds(100)) { vrrp(active) == "MASTER" }
        let tookOver = ContinuousClock.now - cutAt
        let answers = await Support.waitUntil(.seconds(30), every: .milliseconds(100)) {
            await Task.detached { (try? AMQPProbe(host: floating, port: 5672, timeout: .seconds(1)).hello()) != nil }.value
        }
        let answered = ContinuousClock.now - cutAt
        #expect(moved && answers, "\(active) did not take the address over within 30 s of \(standby)'s cut: \(vrrp(active))")
        timings.entries.append("pair: \(standby)'s link cut: \(active) MASTER after \(tookOver), the address answered after \(answered)")
        #expect(await bed.link(standby, "up").termination == .exited(code: 0))
        #expect(await Support.waitUntil(.seconds(30), every: .milliseconds(200)) { vrrp(standby) == "BACKUP" }, "\(standby) after its link is back: \(vrrp(standby))")
        // The client is connected again (a message made the round trip after the cut), then both stop.
        let (counts, clientOutput) = await client.stop()
        watcher.cancel()
        let sequence = await watcher.value
        timings.entries.append("pair: the client through \(floating): \(counts?.description ?? clientOutput); the address's MAC: \(sequence)")
        #expect(sequence == [macs[active]!, macs[standby]!, macs[active]!], "the address should move twice (\(macs)): \(sequence)")
        #expect(counts.map { $0.published > 0 && $0.delivered > 0 && $0.disconnects >= 2 } == true, "\(counts?.description ?? clientOutput)")
        _ = await bed.ctl("ServerA", ["delete_user", "pairclient"])

        // Both hosts as they were.
        for id in ["floating-address", "load-balancer"] {
            let undone = await wizard(["rollback", id, "--yes"])
            #expect(undone.termination == .exited(code: 0), "\(id): \(undone.stdout.text)\(undone.stderr.text)")
        }
        let after = [await snapshot("LB"), await snapshot("LB2")]
        let (was, now) = (Set(before.joined()), Set(after.joined()))
        #expect(after == before, "the pair's hosts after the rollbacks differ: gone \(was.subtracting(now).map { $0.prefix(300) }), new \(now.subtracting(was).map { $0.prefix(300) })")
        let through = await Task.detached { try? AMQPProbe(host: lb1, port: 5672).hello() }.value
        #expect(through?.clusterName == "rabbit@ServerA", "LB's own nginx after the rollbacks: \(String(describing: through))")
    }

    /// Two name traps, each caught by installation-checks with a message for the pair, before anything
    /// changes: ServerC resolving ServerB to ServerA's address, and `host: serverb` for a host that calls
    /// itself ServerB.
    func nameTraps(_ bed: NetBed, topology: String, state: String, wizard: Wizard, timings: Timings) async {
        let hosts = Support.read(bed.hostsFile("ServerC"))
        let (a, b) = (bed.address("ServerA"), bed.address("ServerB"))
        #expect(await bed.setHosts("ServerC", hosts.replacingOccurrences(of: "\(b) ServerB\n", with: "\(a) ServerB\n")))
        #expect(await bed.run("ServerC", ["getent", "hosts", "ServerB"]).stdout.text.hasPrefix(a))
        let wrong = await timings.time("trap: ServerB resolves elsewhere on ServerC") { await wizard(["plan", "--only", "installation-checks"]) }
        #expect(wrong.stdout.text.contains("name-resolves-differently (server-c): on server-c, ServerB resolves to \(a), which is not an address of server-b (\(b))"),
                "\(wrong.stdout.text)")
        let refused = await wizard(["apply", "--yes"])
        #expect(refused.termination != .exited(code: 0) && refused.stderr.text.contains("installation-checks is blocked"), "\(refused.stderr.text)")
        #expect(await bed.setHosts("ServerC", hosts))

        let caseTopology = topology + ".case"
        Support.write(Support.read(topology).replacingOccurrences(of: "host: ServerB", with: "host: serverb"), to: caseTopology)
        let mismatch = await timings.time("trap: serverb for ServerB") {
            await Support.run([Support.productBinary, "plan", "--only", "installation-checks", "--config", caseTopology,
                               "--identity", bed.env["KEY"] ?? "?"], timeout: .seconds(120))
        }
        #expect(mismatch.stdout.text.contains("node-name-mismatch (server-b): server-b: the topology says host serverb, but the host calls itself ServerB"),
                "\(mismatch.stdout.text)")
        Support.remove(caseTopology)
    }

    /// Waits (at most 5 minutes) until a process in the host runs `word`, then drops the host's ssh
    /// connections. Returns how many were dropped (0: never seen).
    static func dropSSH(_ bed: NetBed, _ host: String, whenRunning word: String) async -> Int {
        guard await Support.waitUntil(.seconds(300), { bed.isRunning(host, word) }) else { return 0 }
        return bed.dropSSHConnections(host)
    }

    /// Each node's running nodes and recorded partitions, as Debian's rabbitmqctl on that host reports them.
    static func views(_ bed: NetBed) async -> [String: ClusterStatus] {
        var out: [String: ClusterStatus] = [:]
        for h in NetBed.servers { out[h] = ClusterStatus(json: await bed.ctl(h, ["cluster_status", "--formatter", "json"]).stdout.text) }
        return out
    }

    /// ServerC split from ServerA and ServerB (controller and LB still reach it) for longer than the net
    /// tick time: each side carries on alone and `status` reports the partition. Once the link is back the
    /// nodes reconnect and RabbitMQ records the partition; the guided repair (`repair partition --yes`)
    /// ends it, and every node sees all three with nothing recorded.
    ///
    /// A partition that stays recorded is made on purpose: partition handling is set to `ignore` in the
    /// running nodes only (the configured and restart value stays autoheal). With autoheal left on, the
    /// repair would race autoheal, which heals most runs by itself and loops in others (RabbitMQ 3.10.8,
    /// 4 of 10 runs here), so the repair would be tested only sometimes.
    func partitionRepairedByTheGuidedRepair(_ bed: NetBed, dir: String, wizard: Wizard, timings: Timings) async {
        let (a, b, c) = ("rabbit@ServerA", "rabbit@ServerB", "rabbit@ServerC")
        func handling(_ h: String) async -> String {
            await bed.ctl(h, ["eval", "application:get_env(rabbit, cluster_partition_handling)."]).stdout.text
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        for h in NetBed.servers {
            let set = await bed.ctl(h, ["eval", "application:set_env(rabbit, cluster_partition_handling, ignore)."])
            let now = await handling(h)
            #expect(set.stdout.text.contains("ok") && now == "{ok,ignore}", "\(h): \(set.stdout.text)\(set.stderr.text)\(now)")
        }
        let clock = ContinuousClock()
        #expect(await bed.split("ServerC", "cut").termination == .exited(code: 0))
        let cutAt = clock.now
        var split = false
        while !split && clock.now - cutAt < .seconds(180) {
            let v = await Self.views(bed)
            // Every node has timed the others out (each link's tick runs on its own clock): a full split.
            split = v["ServerA"]?.runningNodes.sorted() == [a, b] && v["ServerB"]?.runningNodes.sorted() == [a, b] && v["ServerC"]?.runningNodes == [c]
        }
        #expect(split, "no partition within 180 s of the cut")
        let detected = (clock.now - cutAt).components.seconds
        let during = await timings.time("partition (detected after \(detected) s): status") { await wizard(["status"]) }
        #expect(during.stdout.text.contains("cluster: NETWORK PARTITION: rabbit@ServerA, rabbit@ServerB | rabbit@ServerC each run without the other side"),
                "\(during.stdout.text)")
        #expect(await bed.split("ServerC", "heal").termination == .exited(code: 0))
        // The nodes reach each other again (RabbitMQ pings down nodes every second) and Mnesia reports the
        // partition on both sides: A and B recorded C, C recorded A and B.
        let healedAt = clock.now
        var recorded = false
        var v: [String: ClusterStatus] = [:]
        while !recorded && clock.now - healedAt < .seconds(60) {
            v = await Self.views(bed)
            let on = { (h: String) in Set(v[h]?.partitions.values.flatMap { $0 } ?? []) }
            recorded = on("ServerA").contains(c) && on("ServerB").contains(c) && on("ServerC").isSuperset(of: [a, b])
        }
        if !recorded {
            let lines = NetBed.servers.flatMap { h in
                Support.read("\(dir)/hosts/\(h)/var-log-rabbitmq/rabbit@\(h).log").split(separator: "\n")
                    .filter { $0.contains("artition") || $0.contains("inconsistent") || $0.contains("node down") }.map { "\(h): \($0)" }
            }
            Issue.record("no partition recorded within 60 s of the heal: \(v)\nthe nodes' logs:\n\(lines.suffix(40).joined(separator: "\n"))")
        }
        timings.entries.append("partition recorded \((clock.now - healedAt).components.seconds) s after the heal")
        let stuck = await wizard(["status"])
        #expect(stuck.stdout.text.contains("RabbitMQ recorded it") && stuck.stdout.text.contains("guided repair: rabbit-wizard repair partition"),
                "\(stuck.stdout.text)")

        let repairStarted = ContinuousClock.now
        let repair = await timings.time("partition: repair partition --yes") { await wizard(["repair", "partition", "--yes"]) }
        let said = repair.stdout.text + repair.stderr.text
        // A repair usually takes 7-18 s here; twice it took about 100 s (of its 120). Where the time went,
        // for the next time: what it said, and each of its commands and requests with its duration.
        if ContinuousClock.now - repairStarted > .seconds(30) {
            let records = (try? CommandLog.read(path: dir + "/state/commands.jsonl").records) ?? []
            let mine = records.filter { $0.step == "repair-partition" }.map {
                "  \(String(format: "%6.2f", $0.durationSeconds)) s \($0.target) \($0.termination) \($0.via.map { "(\($0)) " } ?? "")\($0.argv.joined(separator: " ").replacing("\n", with: " ").prefix(160))"
            }
            // The restarted node's own account of its boot (waiting for tables, say), last lines.
            let log = Support.read("\(dir)/hosts/ServerC/var-log-rabbitmq/rabbit@ServerC.log").split(separator: "\n").suffix(60)
            print("netbed: slow repair (\((ContinuousClock.now - repairStarted).seconds) s); it said:\n\(said)\nits records:\n"
                  + mine.joined(separator: "\n") + "\nServerC's log, last lines:\n" + log.joined(separator: "\n"))
        }
        #expect(repair.termination == .exited(code: 0), "\(said)")
        // The smaller side restarts, with each node's own view as the evidence for it.
        #expect(said.contains("restart (stop them all, then start them): \(c)\n") && said.contains("keep running: \(a), \(b)\n"), "\(said)")
        let evidence = said.split(separator: "\n").filter { $0.hasPrefix("  \(c) runs with ") }
        #expect(evidence.count == 1 && evidence.allSatisfy { $0.hasSuffix("; recorded a partition with \(a), \(b)") }, "\(said)")
        #expect(said.contains("Repaired: 3 of 3 nodes running, every node sees all of them, no partition (observed from every node)."), "\(said)")
        v = await Self.views(bed)
        #expect(NetBed.servers.allSatisfy { v[$0]?.runningNodes.sorted() == [a, b, c] && v[$0]?.partitions.values.allSatisfy(\.isEmpty) == true },
                "after the repair, from every node: \(v)")
        // Only ServerC restarted: it came back with the configured autoheal, A and B still run with ignore.
        var effective: [String] = []
        for h in NetBed.servers { effective.append(await handling(h)) }
        #expect(effective == ["{ok,ignore}", "{ok,ignore}", "{ok,autoheal}"], "effective partition handling of A, B, C: \(effective)")
        for h in ["ServerA", "ServerB"] { _ = await bed.ctl(h, ["eval", "application:set_env(rabbit, cluster_partition_handling, autoheal)."]) }
        let after = await timings.time("after the repair: status") { await wizard(["status"]) }
        #expect(after.stdout.text.contains("cluster: 3 of 3 nodes running"), "\(after.stdout.text)")
    }

    static func topology(_ bed: NetBed, state: String) -> String {
        let nodes = NetBed.servers.map { h in
            """
              - name: server-\(h.suffix(1).lowercased())
                host: \(h)
                reach: ssh://root@\(bed.address(h))
                profile: debian
            """
        }.joined(separator: "\n")
        return """
            cluster:
              seed: server-a
              partition_handling: autoheal
            state_dir: \(state)
            nodes:
            \(nodes)
            load_balancer:
              kind: nginx
              host: LB
              listen_address: \(bed.address("LB"))
              listen_port: 5672
              reach: ssh://root@\(bed.address("LB"))
              profile: debian

            """
    }
}

/// How long each scenario took, for the note and the log (`netbed timings: ...`).
final class Timings {
    var entries: [String] = []

    func time<T>(_ label: String, _ body: () async throws -> T) async rethrows -> T {
        let clock = ContinuousClock()
        let start = clock.now
        let value = try await body()
        entries.append("\(label) \(String(format: "%.1f", (clock.now - start).seconds)) s")
        return value
    }
}
