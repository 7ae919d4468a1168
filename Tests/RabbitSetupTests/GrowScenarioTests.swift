import Foundation
import Glibc
import TestKit
import Testing

/// Growing a formed cluster (issue 20's first part), on real nodes: a 2-node cluster behind nginx, then the
/// same topology with a third node, applied while `watch` opens a new AMQP connection through nginx every
/// 100 ms. The plan says the members are left alone; apply joins the new node, restarts no member, and
/// nginx's configuration gains the node without a failed new connection.
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
        }
    }
}
