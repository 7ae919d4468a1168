import Foundation
import Glibc
import TestKit
import Testing

/// Growing and then shrinking a formed cluster (issue 20), on real nodes: a 2-node cluster behind nginx, then the
/// same topology with a third node, applied while `watch` opens a new AMQP connection through nginx every
/// 100 ms. The plan says the members are left alone; apply joins the new node, restarts no member, and
/// nginx's configuration gains the node without a failed new connection. Then, on the same nodes, the
/// shrink back to two (``shrink(_:from:)``) and the guided repair of a partition (``partitionRepair(_:topology:)``).
struct GrowScenarioTests {
    /// The sandbox's topology with `autoheal` (the 2-node choice, kept when growing so that the members'
    /// setting does not change) and, for `nodes: 2`, without node-c.
    static func topology(_ bed: SandboxBed, nodes: Int) -> String {
        var text = Support.read(bed.topology).replacing("partition_handling: pause_minority", with: "partition_handling: autoheal")
        if nodes == 2 {
            var kept: [Substring] = []
            var inC = false
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix("  - name: ") { inC = line == "  - name: node-c" }
                if !inC { kept.append(line) }
            }
            text = kept.joined(separator: "\n")
        }
        let path = bed.dir + "/topology-\(nodes).yml"
        Support.write(text, to: path)
        return path
    }

    /// How often the node's own log says its RabbitMQ applications were stopped (stop_app or a service stop).
    static func stops(_ bed: SandboxBed, _ letter: String) -> Int {
        Support.read(bed.nodeDir(letter) + "/log/\(bed.nodeName(letter)).log").components(separatedBy: "Stopping RabbitMQ applications").count - 1
    }

    @Test func aThirdNodeJoinsAFormedClusterWithoutTouchingItsMembers() async throws {
        try await SandboxBed.with(nodes: 3, basePort: 5751, loadBalancer: "nginx") { bed in
            let two = Self.topology(bed, nodes: 2), three = Self.topology(bed, nodes: 3)
            #expect(!Support.read(two).contains("node-c") && Support.read(three).contains("node-c"))
            let formed = await Support.run([Support.productBinary, "apply", "--yes", "--config", two], timeout: .seconds(600))
            try #require(formed.termination == .exited(code: 0), "\(formed.stdout.text)\(formed.stderr.text)")
            for l in ["a", "b"] { #expect(await bed.runningNodes(seenFrom: l)?.running == ["rabbit-a@localhost", "rabbit-b@localhost"]) }
            let nginxConf = bed.dir + "/lb/nginx.conf"
            let cPort = bed.ports().nodes[2]
            #expect(!Support.read(nginxConf).contains(":\(cPort) "), "node-c is in nginx's config before the grow")

            // The plan names the members it leaves alone, and changes only what node-c needs.
            let plan = await Support.run([Support.productBinary, "plan", "--config", three], timeout: .seconds(300))
            #expect(plan.termination == .exited(code: 0), "\(plan.stdout.text)\(plan.stderr.text)")
            #expect(plan.stdout.text.contains("left alone: node-a (rabbit-a@localhost), node-b (rabbit-b@localhost): already members of the cluster"),
                    "\(plan.stdout.text)")
            #expect(plan.stdout.text.contains("node-c: join rabbit-a@localhost") && !plan.stdout.text.contains("node-b: join"), "\(plan.stdout.text)")

            let pids = ["a": bed.pid("a"), "b": bed.pid("b")]
            let stopsBefore = ["a": Self.stops(bed, "a"), "b": Self.stops(bed, "b"), "c": Self.stops(bed, "c")]
            // watch runs through nginx for the whole apply, and is stopped with Ctrl-C (SIGINT) after it.
            let watchOut = bed.dir + "/watch.json"
            let started = await Support.run(["sh", "-c", "\"$@\" > \"$0\" 2> \"$0.err\" & echo $!", watchOut, Support.productBinary, "watch", "--seconds", "900",
                                             "--json", "--config", three])
            let watcher = try #require(Int32(started.stdout.text.trimmingCharacters(in: .whitespacesAndNewlines)))
            #expect(await Support.waitUntil(.seconds(20)) { Support.hasEnded(watcher) || (try? String(contentsOfFile: "/proc/\(watcher)/cmdline", encoding: .utf8)) != nil })
            let grow = await Support.run([Support.productBinary, "apply", "--yes", "--config", three], timeout: .seconds(600))
            kill(watcher, SIGINT)
            #expect(await Support.waitUntil(.seconds(30)) { Support.hasEnded(watcher) })
            #expect(grow.termination == .exited(code: 0), "\(grow.stdout.text)\(grow.stderr.text)")

            for l in bed.letters {
                #expect(await bed.runningNodes(seenFrom: l)?.running == bed.letters.map(bed.nodeName), "the cluster as seen from \(l)")
            }
            for l in ["a", "b"] {
                #expect(bed.pid(l) == pids[l], "rabbit-\(l)'s Erlang VM was restarted")
                #expect(Self.stops(bed, l) == stopsBefore[l], "rabbit-\(l)'s applications were stopped during the grow")
            }
            #expect(Self.stops(bed, "c") > stopsBefore["c"] ?? 0, "node-c's own restart is in its log (the marker the members are checked for)")
            #expect(Support.read(nginxConf).contains("127.0.0.1:\(cPort) ") || Support.read(nginxConf).contains("localhost:\(cPort) "),
                    "nginx's config lacks node-c:\n\(Support.read(nginxConf))")
            let watched = Support.read(watchOut)
            let stats = try #require(try? JSONSerialization.jsonObject(with: Data(watched.utf8)) as? [String: Any], "watch said: \(watched)\(Support.read(watchOut + ".err"))")
            #expect((stats["attempts"] as? Int ?? 0) >= 10 && stats["failed"] as? Int == 0, "through nginx during the grow: \(watched)")

            try await Self.shrink(bed, from: three)
        }
    }

    /// Shrinking the grown cluster back to two: node-c marked `leave: true`. The plan names it and what it
    /// loses; without a terminal and without --yes nothing runs. With `watch` running through nginx, apply
    /// takes node-c out of nginx's configuration first, then out of the cluster (stop_app, reset,
    /// start_app on it); no member restarts and no new connection fails. Rollback joins it again.
    static func shrink(_ bed: SandboxBed, from three: String) async throws {
        let shrink = bed.dir + "/topology-shrink.yml"
        Support.write(Support.read(three).replacing("  - name: node-c\n", with: "  - name: node-c\n    leave: true\n"), to: shrink)
        let cPort = bed.ports().nodes[2]
        let nginxConf = bed.dir + "/lb/nginx.conf"
        let plan = await Support.run([Support.productBinary, "plan", "--config", shrink], timeout: .seconds(300))
        #expect(plan.termination == .exited(code: 0), "\(plan.stdout.text)\(plan.stderr.text)")
        #expect(plan.stdout.text.contains("node-c: leave the cluster") && plan.stdout.text.contains("DESTROYS: the data on rabbit-c@localhost"),
                "\(plan.stdout.text)")
        #expect(plan.stdout.text.contains("node-a (rabbit-a@localhost), node-b (rabbit-b@localhost): stay in the cluster"), "\(plan.stdout.text)")
        // Not before the load balancer: a node still in rotation is not reset.
        let early = await Support.run([Support.productBinary, "apply", "--yes", "--only", "cluster-leave", "--config", shrink], timeout: .seconds(300))
        #expect(early.termination == .exited(code: 1), "\(early.stdout.text)\(early.stderr.text)")
        #expect(early.stderr.text.contains("apply load-balancer first"), "\(early.stdout.text)\(early.stderr.text)")
        #expect(await bed.runningNodes(seenFrom: "c")?.running == bed.letters.map(bed.nodeName), "node-c left while still in rotation")
        // Not without a confirmation (no terminal, no --yes): the first plan is not confirmed, nothing changes.
        let unconfirmed = await Support.run([Support.productBinary, "apply", "--config", shrink], timeout: .seconds(300))
        #expect(unconfirmed.termination == .exited(code: 3), "\(unconfirmed.stdout.text)\(unconfirmed.stderr.text)")
        #expect(await bed.runningNodes(seenFrom: "c")?.running == bed.letters.map(bed.nodeName), "node-c left without a confirmation")
        #expect(Support.read(nginxConf).contains(":\(cPort) "), "nginx's config changed without a confirmation")

        let pids = ["a": bed.pid("a"), "b": bed.pid("b")]
        let stopsBefore = ["a": stops(bed, "a"), "b": stops(bed, "b")]
        let watchOut = bed.dir + "/watch-shrink.json"
        let started = await Support.run(["sh", "-c", "\"$@\" > \"$0\" 2> \"$0.err\" & echo $!", watchOut, Support.productBinary, "watch", "--seconds", "900",
                                         "--json", "--config", shrink])
        let watcher = try #require(Int32(started.stdout.text.trimmingCharacters(in: .whitespacesAndNewlines)))
        let applied = await Support.run([Support.productBinary, "apply", "--yes", "--config", shrink], timeout: .seconds(600))
        kill(watcher, SIGINT)
        #expect(await Support.waitUntil(.seconds(30)) { Support.hasEnded(watcher) })
        #expect(applied.termination == .exited(code: 0), "\(applied.stdout.text)\(applied.stderr.text)")
        let out = applied.stdout.text
        let lbDone = out.range(of: "load-balancer: done"), leaveApplying = out.range(of: "cluster-leave: applying")
        #expect(lbDone != nil && leaveApplying != nil && lbDone!.lowerBound < leaveApplying!.lowerBound, "the load balancer first:\n\(out)")

        for l in ["a", "b"] {
            #expect(await bed.runningNodes(seenFrom: l)?.running == ["rabbit-a@localhost", "rabbit-b@localhost"], "the cluster as seen from \(l)")
            #expect(bed.pid(l) == pids[l], "rabbit-\(l)'s Erlang VM was restarted")
            #expect(stops(bed, l) == stopsBefore[l], "rabbit-\(l)'s applications were stopped during the shrink")
        }
        #expect(await bed.runningNodes(seenFrom: "c")?.running == ["rabbit-c@localhost"], "node-c is not a standalone node")
        #expect(!Support.read(nginxConf).contains(":\(cPort) "), "node-c is still in nginx's config:\n\(Support.read(nginxConf))")
        let watched = Support.read(watchOut)
        let stats = try #require(try? JSONSerialization.jsonObject(with: Data(watched.utf8)) as? [String: Any], "watch said: \(watched)\(Support.read(watchOut + ".err"))")
        #expect((stats["attempts"] as? Int ?? 0) >= 10 && stats["failed"] as? Int == 0, "through nginx during the shrink: \(watched)")

        // Rollback: node-c joins again (empty); the cluster is three, as every node sees it.
        let undone = await Support.run([Support.productBinary, "rollback", "cluster-leave", "--yes", "--config", shrink], timeout: .seconds(600))
        #expect(undone.termination == .exited(code: 0), "\(undone.stdout.text)\(undone.stderr.text)")
        for l in bed.letters {
            #expect(await bed.runningNodes(seenFrom: l)?.running == bed.letters.map(bed.nodeName), "after the rollback, seen from \(l)")
        }
        try await partitionRepair(bed, topology: three)
    }

    /// Polls `condition` every 500 ms for up to `limit`.
    static func eventually(_ limit: Duration, _ condition: () async -> Bool) async -> Bool {
        let end = ContinuousClock.now.advanced(by: limit)
        while ContinuousClock.now < end {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(500))
        }
        return await condition()
    }

    /// A partition that does not heal by itself: the three nodes are told at runtime to ignore partitions and
    /// to time a silent peer out after 4 s (net_ticktime); node-c's Erlang VM is frozen (SIGSTOP) until
    /// node-a has timed it out, then resumed: each side records the other and stays so.
    static func partition(_ bed: SandboxBed) async throws {
        let all = bed.letters.map(bed.nodeName)
        for l in bed.letters {
            let r = await bed.ctl(l, ["eval", "application:set_env(rabbit, cluster_partition_handling, ignore), net_kernel:set_net_ticktime(4, 0)."])
            #expect(r.termination == .exited(code: 0), "\(r.stdout.text)\(r.stderr.text)")
        }
        let pid = try #require(Int32(bed.pid("c").trimmingCharacters(in: .whitespacesAndNewlines)))
        kill(pid, SIGSTOP)
        // Frozen until both node-a and node-b have timed it out (each link's tick runs on its own clock): resumed
        // when only node-a had, node-c still ran with node-b, and no partition was recorded on both sides
        // (seen once).
        let timedOut = await eventually(.seconds(60)) {
            let a = await bed.runningNodes(seenFrom: "a"), b = await bed.runningNodes(seenFrom: "b")
            return a?.running == Array(all.prefix(2)) && b?.running == Array(all.prefix(2))
        }
        kill(pid, SIGCONT)
        #expect(timedOut, "node-a or node-b still runs with node-c 60 s after node-c was frozen")
        let recorded = await eventually(.seconds(60)) {
            let a = await bed.runningNodes(seenFrom: "a"), c = await bed.runningNodes(seenFrom: "c")
            return (a?.partitions ?? 0) > 0 && (c?.partitions ?? 0) > 0
        }
        try #require(recorded, "no partition recorded on both sides within 60 s of the resume")
    }

    /// The guided repair, twice on real nodes: on the screen (R, the proposal, the word typed) and with
    /// `repair partition` (not without --yes and a terminal; then with --yes). Each time only node-c
    /// restarts (the minority), and every node then sees all three with no partition recorded.
    static func partitionRepair(_ bed: SandboxBed, topology: String) async throws {
        let all = bed.letters.map(bed.nodeName)
        func whole() async {
            for l in bed.letters {
                let seen = await bed.runningNodes(seenFrom: l)
                #expect(seen?.running == all && seen?.partitions == 0, "after the repair, seen from \(l): \(String(describing: seen))")
            }
        }

        // 1. On the screen.
        try await partition(bed)
        var stopsBefore = Dictionary(uniqueKeysWithValues: bed.letters.map { ($0, stops(bed, $0)) })
        try await Tmux.with([Support.productBinary, "--config", topology]) { tmux in
            func screen(_ text: String, _ limit: Duration = .seconds(90)) async throws -> String {
                try #require(await tmux.wait(for: text, limit), "waited \(limit) for \"\(text)\"; the screen:\n\(tmux.lastScreen)")
            }
            _ = try await screen("cluster: NETWORK PARTITION")
            await tmux.send("R")
            let question = try await screen("Type restart and press Enter")
            #expect(Tmux.shows(question, "Restart (stop the node, start it): rabbit-c@localhost"), "\(question)")
            #expect(Tmux.shows(question, "Keep running: rabbit-a@localhost, rabbit-b@localhost"), "\(question)")
            #expect(bed.letters.map { stops(bed, $0) } == bed.letters.map { stopsBefore[$0]! }, "restarted before the word was typed")
            await tmux.type("restart")
            await tmux.send("Enter")
            _ = try await screen("Repaired: 3 of 3 nodes running", .seconds(180))
            await tmux.send("q")
        }
        await whole()
        #expect(stops(bed, "a") == stopsBefore["a"] && stops(bed, "b") == stopsBefore["b"], "the kept side was restarted")
        #expect(stops(bed, "c") > stopsBefore["c"]!, "node-c was not restarted")

        // 2. The CLI: status names the repair; without --yes and without a terminal nothing restarts.
        try await partition(bed)
        let status = await Support.run([Support.productBinary, "status", "--config", topology], timeout: .seconds(300))
        #expect(status.stdout.text.contains("cluster: NETWORK PARTITION") && status.stdout.text.contains("guided repair: rabbit-wizard repair partition"),
                "\(status.stdout.text)")
        stopsBefore = Dictionary(uniqueKeysWithValues: bed.letters.map { ($0, stops(bed, $0)) })
        let unconfirmed = await Support.run([Support.productBinary, "repair", "partition", "--config", topology], timeout: .seconds(300))
        #expect(unconfirmed.termination == .exited(code: 3), "\(unconfirmed.stdout.text)\(unconfirmed.stderr.text)")
        #expect(unconfirmed.stdout.text.contains("restart (stop the node, start it): rabbit-c@localhost"), "\(unconfirmed.stdout.text)")
        #expect(bed.letters.map { stops(bed, $0) } == bed.letters.map { stopsBefore[$0]! }, "a node was restarted without a confirmation")
        let repaired = await Support.run([Support.productBinary, "repair", "partition", "--yes", "--config", topology], timeout: .seconds(300))
        #expect(repaired.termination == .exited(code: 0), "\(repaired.stdout.text)\(repaired.stderr.text)")
        #expect(repaired.stdout.text.contains("Repaired: 3 of 3 nodes running"), "\(repaired.stdout.text)")
        await whole()
        #expect(stops(bed, "a") == stopsBefore["a"] && stops(bed, "b") == stopsBefore["b"], "the kept side was restarted")
        #expect(stops(bed, "c") > stopsBefore["c"]!, "node-c was not restarted")
    }
}
