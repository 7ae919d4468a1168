import Executor
import Foundation
import Glibc
import RabbitSetup
import TestKit
import Testing

extension ClusterScenarioTests {
    /// The product over ssh against real separate hosts with the Debian layout (`Tests/netbed`): RabbitMQ
    /// started on ServerA, ServerB and ServerC by Debian's own service command, each with its own cookie;
    /// the controller's known_hosts enrolled through `known-hosts add`; `apply` forms the cluster and puts
    /// nginx on LB in front of it; `status` from the controller; the bed leaves no namespace, mount,
    /// process or file behind. Runs in the serialized cluster suite (one cluster at a time on 2 cores).
    @Test func debianHostsOverSSH() async throws {
        let clock = ContinuousClock()
        var timings: [String] = []
        func timed<T>(_ label: String, _ body: () async throws -> T) async rethrows -> T {
            let start = clock.now
            let value = try await body()
            timings.append("\(label) \((clock.now - start).components.seconds) s")
            return value
        }
        let dir = "/tmp/rw-netbed-test"
        let netnsFolderExisted = FileManager.default.fileExists(atPath: "/etc/netns")
        let bed = try await timed("up") { try await NetBed.up(dir: dir) }
        var pids: [Int32] = []
        // Hosts: own names and resolution, the Debian service starts each node as rabbit@HOST.
        #expect(await bed.run("ServerB", ["hostname"]).stdout.text == "ServerB\n")
        #expect(await bed.run("ServerC", ["getent", "hosts", "ServerA"]).stdout.text.hasPrefix(bed.address("ServerA")))
        let started = await timed("rabbitmq start x3") {
            await withTaskGroup(of: Int32?.self) { group in
                for h in NetBed.servers { group.addTask { if case .exited(let code) = await bed.run(h, ["service", "rabbitmq-server", "start"]).termination { return code } else { return nil } } }
                return await group.reduce(into: []) { $0.append($1) }
            }
        }
        #expect(started == [0, 0, 0], "service rabbitmq-server start: \(started)")
        let cookies = NetBed.servers.map { Support.read("\(dir)/hosts/\($0)/var-lib-rabbitmq/.erlang.cookie") }
        #expect(Set(cookies).count == 3 && cookies.allSatisfy { $0.count == 20 }, "each host has its own cookie")
        let canary = cookies[0]

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
        let wizard = { (args: [String]) async -> TransportOutcome in
            await Support.run([Support.productBinary] + args + ["--config", topology, "--identity", env["KEY"] ?? "?"], timeout: .seconds(600))
        }

        let apply = await timed("apply") { await wizard(["apply", "--yes"]) }
        #expect(apply.termination == .exited(code: 0), "\(apply.stdout.text)\(apply.stderr.text)")
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
        // OutSystems' view: an AMQP handshake through LB answers as the cluster.
        let lb = bed.address("LB")
        let hello = await Task.detached { try? AMQPProbe(host: lb, port: 5672).hello() }.value
        #expect(hello?.clusterName == "rabbit@ServerA", "through LB: \(String(describing: hello))")

        let status = await timed("status") { await wizard(["status"]) }
        #expect(status.termination == .exited(code: 0))
        let rows = status.stdout.text.split(separator: "\n").filter { !$0.hasPrefix("failover-drill") && $0.contains("  ") }
        #expect(!rows.isEmpty && rows.allSatisfy { $0.contains("up to date (verified)") }, "\(status.stdout.text)")

        // The failover drill over ssh: each node stopped in turn (stop_app) while new connections go through LB.
        let drill = await timed("drill") { await wizard(["apply", "--yes", "--only", "failover-drill"]) }
        #expect(drill.termination == .exited(code: 0), "\(drill.stdout.text)\(drill.stderr.text)")
        #expect(Self.failedColumn(drill.stdout.text) == [0, 0, 0], "\(drill.stdout.text)")

        // A silent host: ServerC's link cut (no RST, no ICMP) while new connections go through LB for 6 s.
        // nginx waits proxy_connect_timeout (2 s) on it once, then takes the next node and leaves it out.
        #expect(await bed.link("ServerC", "down").termination == .exited(code: 0))
        var failed = 0, attempts = 0, worst = Duration.zero
        let end = clock.now.advanced(by: .seconds(6))
        while clock.now < end {
            attempts += 1
            let t = clock.now
            if await Task.detached(operation: { try? AMQPProbe(host: lb, port: 5672, timeout: .seconds(5)).hello() }).value == nil { failed += 1 }
            worst = max(worst, clock.now - t)
            try? await Task.sleep(for: .milliseconds(100))
        }
        #expect(await bed.link("ServerC", "up").termination == .exited(code: 0))
        timings.append("link cut: \(failed) failed of \(attempts), worst \(worst.components.seconds).\(worst.components.attoseconds / 10_000_000_000_000_000) s")
        #expect(failed == 0 && attempts >= 3, "link cut: \(failed) failed of \(attempts)")
        #expect(worst < .seconds(5))

        #expect(!(apply.stdout.text + apply.stderr.text + status.stdout.text + drill.stdout.text).contains(canary), "cookie in the output")
        let logs = Support.read(state + "/commands.jsonl") + ((try? FileManager.default.contentsOfDirectory(atPath: state + "/journal")) ?? [])
            .map { Support.read(state + "/journal/" + $0) }.joined()
        #expect(logs.contains("service") && !logs.contains(canary), "cookie in the command log or journal")
        for h in NetBed.servers + ["LB"] { pids += await bed.processes(h) }
        #expect(!pids.isEmpty)

        // Down: nothing of the bed is left.
        let down = await timed("down") { await bed.down() }
        #expect(down.termination == .exited(code: 0), "\(down.stdout.text)\(down.stderr.text)")
        #expect(await NetBed.namespaces() == [])
        #expect(!Support.read("/proc/mounts").contains(dir))
        #expect(!FileManager.default.fileExists(atPath: dir))
        #expect(FileManager.default.fileExists(atPath: "/etc/netns") == netnsFolderExisted)
        let survivors = pids.filter { !Support.hasEnded($0) }
        #expect(survivors.isEmpty, "still running after down: \(survivors)")
        print("netbed timings: " + timings.joined(separator: ", "))
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
