import Executor
import Foundation
import Glibc
import RabbitSetup
import TestKit
import Testing

extension ClusterScenarioTests {
    /// The whole setup from the keyboard on a real 3-node sandbox behind nginx (separate nodes, nothing
    /// recorded yet), asserting the screen after every key, with the joiners refusing live changes (the test
    /// hook `RABBIT_WIZARD_TEST_LIVE_REFUSED`: they restart in the cookie round, as nodes that cannot take a
    /// change while they run do; the seed takes it live): Ctrl-C twice during the cookie restarts,
    /// reopening shows the unknown step and reconciles it; a node stopped by the test makes cluster-join
    /// fail, r retries it once the node is back; the hand-off's password is typed when the screen asks (a
    /// canary, refused first for a character OutSystems rejects) and the drill it offers is run; the hand-off
    /// and the load balancer are rolled back from the screen. The terminal is the same afterwards, the cookie
    /// never appears on any screen, and the password in no screen, file of the state folder or program's argv
    /// or environment. Ends with the cluster formed and the load balancer rolled back.
    static func screenScenario(_ bed: SandboxBed) async throws {
        let canary = Support.read(bed.nodeDir("a") + "/home/.erlang.cookie")
        #expect(canary.count == 20)
        let lbPort = try #require(bed.ports().loadBalancer)
        let argv = [Support.productBinary, "--config", bed.topology]
        let tmux = try await Tmux(argv, environment: [RabbitNode.liveRefusedVariable: "node-b,node-c"])
        do {
            try await Self.screenScenario(bed, tmux, argv: argv, lbPort: lbPort)
        } catch {
            await tmux.stop()
            throw error
        }
        #expect(!tmux.captures.isEmpty, "no screen was captured: the canary check below would look at nothing")
        for screen in tmux.captures { #expect(!screen.contains(canary), "the cookie was on screen") }
        #expect(!tmux.stderr.contains(canary), "the product's stderr (often empty) holds the cookie")
        #expect(Support.lacks(bed.stateTexts(), canary), "cookie in the command log or journal")
        await tmux.stop()
    }

    /// Every regular file under `root` (recursively) with its text, for a look for a secret.
    static func everyFile(under root: String) -> [(path: String, text: String)] {
        let paths = (try? FileManager.default.subpathsOfDirectory(atPath: root)) ?? []
        return paths.sorted().compactMap { sub in
            var folder: ObjCBool = false
            let path = root + "/" + sub
            guard FileManager.default.fileExists(atPath: path, isDirectory: &folder), !folder.boolValue,
                  let data = FileManager.default.contents(atPath: path) else { return nil }
            return (path, String(decoding: data, as: UTF8.self))
        }
    }

    /// Pids of the sandbox's own start/stop scripts that are running.
    static func controlScripts(of bed: SandboxBed) -> [Int32] {
        Support.processes().filter { pid in
            guard let argv = Support.commandLine(pid) else { return false }
            return argv.contains { $0.hasPrefix(bed.dir + "/nodes/") && ($0.hasSuffix("/bin/stop") || $0.hasSuffix("/bin/start")) }
        }
    }

    static func screenScenario(_ bed: SandboxBed, _ tmux: Tmux, argv: [String], lbPort: Int) async throws {
        func screen(_ text: String, _ limit: Duration = .seconds(60)) async throws -> String {
            try #require(await tmux.wait(for: text, limit), "waited \(limit) for \"\(text)\"; the screen:\n\(tmux.lastScreen)")
        }

        // 1. The overview: seven steps, none done. (The frame before the engine reports, "opening", already
        //    has the overview's key bar: wait for the step list itself.)
        let overview = try #require(await tmux.wait(.seconds(60)) { $0.contains("failover-drill*") }, "no step list:\n\(tmux.lastScreen)")
        #expect(Tmux.shows(overview, "failover-drill*"))
        #expect(overview.components(separatedBy: "· pending").count - 1 == 7)

        // 2. Enter: the partition-handling plan with its diff; y applies it.
        await tmux.send("Enter")
        let plan = try await screen("Apply partition-handling?")
        #expect(Tmux.shows(plan, "+ cluster_partition_handling = pause_minority"))
        await tmux.send("y")

        // 3. The cookie plan shows the cookie only as "will change"; Ctrl-C twice during its restarts.
        let cookie = try await screen("Apply erlang-cookie?", .seconds(90))
        #expect(Tmux.shows(cookie, "(secret: will change; never shown)"))
        await tmux.send("y")
        _ = try #require(await tmux.wait(.seconds(60)) { Tmux.shows($0, "erlang-cookie") && (Tmux.shows($0, "/bin/stop") || Tmux.shows($0, "/bin/start")) },
                         "no restart on screen:\n\(tmux.lastScreen)")
        await tmux.send("C-c")
        _ = try await screen("stopping at the next safe point", .seconds(5))
        await tmux.send("C-c")
        #expect(await tmux.exitStatus(.seconds(30)) == 130)
        #expect(tmux.stderr.contains("aborted; the current step's outcome is unknown"), "\(tmux.stderr)")
        #expect(tmux.terminalChanges.isEmpty, "the terminal was not given back after the abort: \(tmux.terminalChanges)")

        // The aborted wizard's restarts run on in their own sessions (a restart cut in half is worse), each
        // listed in STATE/running by pid; nobody removes those files now, so the listing is stable. The
        // wizard is reopened at once: its run waits for them before it acts.
        // (Listed by process group: a script's own subshells share it.)
        let groups = Set(Self.controlScripts(of: bed).compactMap(Support.processGroup))
        let listed = Set(((try? FileManager.default.contentsOfDirectory(atPath: bed.state + "/running")) ?? []).compactMap { Int32($0.prefix { $0 != "." }) })
        // The restart on screen was still running at the abort (its entry is removed only when it ends, and
        // the wizard that would remove it is gone), so the listing cannot be empty.
        #expect(!listed.isEmpty, "the aborted run's restarts are not listed in STATE/running")
        #expect(groups.isSubset(of: listed), "running in groups \(groups.sorted()), listed \(listed.sorted())")

        // 4. Reopening shows the unknown step; c reconciles (after taking over the dead wizard's lock).
        let reopened = Date()
        await tmux.respawn(argv)
        let resume = try await screen("The last run did not finish")
        #expect(Tmux.shows(resume, "It stopped during erlang-cookie"))
        #expect(Tmux.shows(resume, "? unknown"))
        await tmux.send("c")
        let lock = try await screen("left its lock")
        #expect(Tmux.shows(lock, "Make sure that wizard is gone"))
        await tmux.send("y")
        // Observation decides: still changes to make (continue asks), the plan again, or already done.
        var next = try #require(await tmux.wait(.seconds(120)) {
            Tmux.shows($0, "was interrupted and is not finished") || Tmux.shows($0, "Apply erlang-cookie?") || Tmux.shows($0, "Apply cluster-join?")
        }, "after reconcile:\n\(tmux.lastScreen)")
        if Tmux.shows(next, "was interrupted and is not finished") {
            #expect(Tmux.shows(next, "c: continue"))
            await tmux.send("c")
            next = try await screen("Apply erlang-cookie?")
        }
        if Tmux.shows(next, "Apply erlang-cookie?") {
            await tmux.send("y")
            next = try await screen("Apply cluster-join?", .seconds(120))
        }
        // The commands left by the abort have ended, and their entries are gone with them.
        #expect(Self.controlScripts(of: bed).isEmpty)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: bed.state + "/running")) ?? ["?"]).isEmpty)

        // 5. cluster-join destroys the joiners' own data: the step id must be typed. Node c is stopped by
        //    the test first, so the join fails; the failure box names the cause and offers retry.
        #expect(Tmux.shows(next, "This DESTROYS: the own data of rabbit-b@localhost"))
        #expect(await bed.stop("c"))
        await tmux.send("y")
        #expect(Tmux.shows(try await screen("> y_", .seconds(5)), "Type cluster-join"))  // y is only a letter here
        await tmux.send("BSpace")
        await tmux.type("cluster-join")
        await tmux.send("Enter")
        // The box, not the output's "cluster-join failed (apply): ..." line, which comes first
        // (RenderTests.theFailuresLineComesBeforeItsBox).
        let failed = try await screen("r: retry", .seconds(180))
        #expect(Tmux.shows(failed, "cluster-join failed"))
        #expect(Tmux.shows(failed, "Cause:"))
        #expect(Tmux.shows(failed, "rabbit-c@localhost"))
        #expect(Tmux.shows(failed, "r: retry"))
        #expect(Tmux.shows(failed, "✗ failed"))

        // 6. The node is back: r retries, the plan is asked for again, then the load balancer; the summary.
        #expect(await bed.start("c"))
        await tmux.send("r")
        _ = try await screen("Apply cluster-join?", .seconds(120))
        await tmux.type("cluster-join")
        await tmux.send("Enter")
        let lb = try await screen("Apply load-balancer?", .seconds(180))
        #expect(Tmux.shows(lb, "nginx"))
        await tmux.send("y")
        // 6b. The hand-off is the one step left, and the screen asks for its password: a character OutSystems
        //     rejects is refused, then the canary typed twice (pasted from stdin: in no argv, the test's own
        //     included) while strace records every program the wizard starts, with argv and environment.
        let asked = try await screen("Password of the OutSystems user", .seconds(180))
        #expect(Tmux.shows(asked, "Type it, then Enter:"), "\(asked)")
        let password = "PW-" + Support.canary()
        let wizardPID = try #require(await tmux.productPID(), "no wizard process in the pane")
        let trace = bed.dir + "/handoff-trace"
        let tracer = await Support.run(["sh", "-c", "strace -f -e trace=execve -v -s 4096 -o \"$0\" -p \"$1\" >/dev/null 2>&1 & echo $!",
                                        trace, String(wizardPID)])
        let tracerPID = try #require(Int32(tracer.stdout.text.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(await Support.waitUntil { FileManager.default.fileExists(atPath: trace) }, "strace did not start")
        await tmux.type("ab(")
        await tmux.send("Enter")
        #expect(Tmux.shows(try await screen("not taken:", .seconds(5)), "it has a character OutSystems rejects"))
        await tmux.send("BSpace", "BSpace", "BSpace")
        await tmux.paste(password)
        #expect(Tmux.shows(try await screen("> " + String(repeating: "*", count: password.count) + "_", .seconds(5)), "Type it, then Enter:"))
        await tmux.send("Enter")
        _ = try await screen("Type it again, then Enter:", .seconds(5))
        await tmux.paste(password)
        await tmux.send("Enter")
        let handoffPlan = try await screen("Apply outsystems-handoff?", .seconds(120))
        #expect(Tmux.shows(handoffPlan, "+ user outsystems") && Tmux.shows(handoffPlan, "(secret: will change; never shown)"), "\(handoffPlan)")
        await tmux.send("y")
        // 6c. Then the drill is offered (what, how long). strace is stopped while the screen is idle: it detaches
        //     from the wizard at once, and no program is being started then (a child started while strace
        //     detached was left stopped, and the screen waited on it). y shows the drill's plan, which destroys
        //     client connections: typed. It ends on the summary with its table, every step done.
        let offer = try #require(await tmux.wait(.seconds(120)) { Tmux.shows($0, "Run the failover drill now?") && $0.split(separator: "\n").first?.trimmingCharacters(in: .whitespaces).hasSuffix("idle") == true },
                                 "no drill offer on an idle screen:\n\(tmux.lastScreen)")
        #expect(Tmux.shows(offer, "fails each of the 3 nodes in turn"), "\(offer)")
        kill(tracerPID, SIGINT)
        #expect(await Support.waitUntil { kill(tracerPID, 0) != 0 }, "strace did not end")
        let traced = Support.read(trace)
        #expect(traced.contains("execve("), "strace recorded nothing while the hand-off ran")
        #expect(Support.lacks(traced, password), "the password in an execve argv or environment")
        await tmux.send("y")
        _ = try await screen("Apply failover-drill?", .seconds(120))
        await tmux.type("failover-drill")
        await tmux.send("Enter")
        // Waited for as one frame: a capture can catch the terminal mid-redraw (seen once: the summary's top
        // rows already drawn, its bottom rows still the overview's panes), so a phrase drawn lower than the
        // one waited for is waited for too, not checked on the first capture that has "Done".
        _ = try #require(await tmux.wait(.seconds(600)) { screen in
            ["Done: 7 of 7 steps are done.", "Port            \(lbPort)", "Password        (set; not shown)"].allSatisfy { Tmux.shows(screen, $0) }
        }, "no summary with every step done and the hand-off values; the screen:\n\(tmux.lastScreen)")
        // The drill's table is at the summary's end, below what 24 rows show.
        await tmux.send("G")
        let table = try #require(await tmux.wait(.seconds(10)) { screen in
            (["Failover drill (graceful)"] + bed.letters.map(bed.nodeName)).allSatisfy { Tmux.shows(screen, $0) }
        }, "no drill table with a row per node at the summary's end; the screen:\n\(tmux.lastScreen)")
        #expect(Tmux.shows(table, "conns"), "\(table)")
        // The login was made with it through the load balancer (the step verified it); the broker has the user.
        let users = await bed.ctl("a", ["list_users", "-q"])
        #expect(users.stdout.text.contains("outsystems"), "\(users.stdout.text)")
        let files = Self.everyFile(under: bed.state)
        #expect(!files.isEmpty, "no file in the state folder: the look for the password would see nothing")
        for (path, text) in files { #expect(!text.contains(password), "the password is in \(path)") }
        #expect(Support.lacks(Support.read(bed.topology), password), "the password is in the topology file")
        #expect(Support.read(bed.state + "/commands.jsonl").contains("<secret, \(password.utf8.count + 1) bytes>"), "add_user got no secret on stdin")
        for screen in tmux.captures { #expect(!screen.contains(password.suffix(12)), "a part of the password was on screen:\n\(screen)") }
        for letter in bed.letters {
            let seen = await bed.runningNodes(seenFrom: letter)
            #expect(seen?.running == bed.letters.map(bed.nodeName), "running_nodes seen from \(letter): \(String(describing: seen))")
            #expect(seen?.partitions == 0)
        }
        #expect(Support.canConnect(port: lbPort))

        // 7. The overview ends with the cluster as every node sees it, observed after the run; then roll the
        //    hand-off back (its user and vhost), and the load balancer, from the screen.
        await tmux.send("Escape")
        let cluster = try await screen("cluster: 3 of 3 nodes running", .seconds(90))
        #expect(Tmux.shows(cluster, "every node sees all of them"), "\(cluster)")
        #expect(Tmux.shows(cluster, "load balancer: nginx on 127.0.0.1:\(lbPort), configured by the wizard"), "\(cluster)")
        await tmux.send("G")
        _ = try #require(await tmux.wait { Tmux.shows($0, "▶ outsystems-handoff") }, "\(tmux.lastScreen)")
        await tmux.send("u")
        _ = try await screen("Roll back outsystems-handoff?")
        await tmux.send("y")
        _ = try await screen("Rolled back: outsystems-handoff.", .seconds(60))
        #expect(!(await bed.ctl("a", ["list_users", "-q"])).stdout.text.contains("outsystems"), "the hand-off's user is still there")
        await tmux.send("g", "j", "j", "j", "j")
        let selected = try #require(await tmux.wait { Tmux.shows($0, "▶ load-balancer") }, "\(tmux.lastScreen)")
        #expect(Tmux.shows(selected, "put nginx in front"))
        await tmux.send("u")
        let confirm = try await screen("Roll back load-balancer?")
        #expect(Tmux.shows(confirm, "restores everything it changed"))
        await tmux.send("y")
        let rolledBack = try await screen("Rolled back: load-balancer.", .seconds(60))
        #expect(Tmux.shows(rolledBack, "↺ rolled back"))
        #expect(await Support.waitUntil(.seconds(10)) { !Support.canConnect(port: lbPort) }, "nginx still listens after the rollback")

        // 8. A partition RabbitMQ recorded, A | B, C: A cut from both while all run, with partition handling set
        //    to `ignore` in the running nodes only (pause_minority would pause A and heal it by itself). Every
        //    node's answer then carries the records of the nodes it runs with, B's and C's records of A among
        //    them. R reads every node's view and proposes the side to restart by the topology's rule (A, the
        //    smaller side, not B and C, who never lost each other); after `restart` is typed it restarts A and
        //    says "Repaired" only once every node sees every other with nothing recorded.
        try await Self.cutOff("a", in: bed)
        await tmux.send("R")
        let proposal = try await screen("Type restart and press Enter", .seconds(60))
        #expect(Tmux.shows(proposal, "recorded a partition"), "\(proposal)")
        #expect(Tmux.shows(proposal, "Restart (stop them all, then start them): rabbit-a@localhost"), "\(proposal)")
        await tmux.type("restart")
        await tmux.send("Enter")
        let repaired = try await screen("Repaired:", .seconds(240))
        #expect(Tmux.shows(repaired, "observed from every node"), "\(repaired)")
        try await Self.expectWholeAndPauseMinority(bed, after: "the screen's repair")

        // 9. q quits; the terminal is as it was.
        await tmux.send("q")
        #expect(await tmux.exitStatus() == 0)
        #expect(tmux.terminalChanges.isEmpty, "the terminal changed: \(tmux.terminalChanges)")
        // The reopened screen's runs and looks (reconcile, apply, retry, rollback) kept one node connection
        // per node, through node c's stop and start: each VM's life is recorded once, when the screen quit.
        let records = try CommandLog.read(path: bed.state + "/commands.jsonl").records
        for l in bed.letters {
            let key = "channel erl \(bed.nodeName(l))@local"
            let lives = records.filter { $0.id == key && $0.via == nil && $0.started >= reopened.addingTimeInterval(-1) }
            #expect(lives.count == 1, "\(key): \(lives.count) VM lives in the reopened screen (closed after a run?)")
        }

        // 10. The same cut, and the side of two restarted (`repair partition --keep-side-of A`): B and C both
        //     stop before either starts again, or A would keep its record of them and the repair would not end.
        try await Self.cutOff("a", in: bed)
        let keepA = await bed.wizard(["repair", "partition", "--keep-side-of", bed.nodeName("a"), "--yes"])
        let said = keepA.stdout.text + keepA.stderr.text
        #expect(keepA.termination == .exited(code: 0), "\(said)")
        #expect(said.contains("restart (stop them all, then start them): rabbit-b@localhost, rabbit-c@localhost\n"), "\(said)")
        let order = said.split(separator: "\n").filter { $0.contains(": stopping the node") || $0.contains(": starting the node") }
            .map { $0.split(separator: ":").first.map(String.init) ?? "" }
        #expect(order == ["  ... node-b", "  ... node-c", "  ... node-b", "  ... node-c"], "stops and starts: \(order)\n\(said)")
        #expect(said.contains("Repaired: 3 of 3 nodes running, every node sees all of them, no partition"), "\(said)")
        try await Self.expectWholeAndPauseMinority(bed, after: "repair partition --keep-side-of")

        // 11. The same repair killed after it stopped B, before C (at C's owed restart): B's start is owed in the
        //     journal, `status` says so, and the next repair starts B first (nothing else); a partition left
        //     after that is the repair after it.
        try await Self.cutOff("a", in: bed)
        let repairArgs = [Support.productBinary, "repair", "partition", "--keep-side-of", bed.nodeName("a"), "--yes", "--config", bed.topology]
        let killed = await Support.run(repairArgs, timeout: .seconds(300), environment: ["RABBIT_WIZARD_CRASH_AT": "restart-owed:node-c"])
        #expect(killed.termination == .signaled(signal: SIGKILL), "the crash point was not reached: \(killed.stdout.text)\(killed.stderr.text)")
        #expect(await bed.runningNodes(seenFrom: "b") == nil, "node b runs: the killed repair did not stop it")
        let owed = await bed.wizard(["status"])
        #expect(owed.stdout.text.contains("restart pending on node-b: the partition repair stops it"), "\(owed.stdout.text)")
        let finish = await bed.wizard(["repair", "partition", "--yes"])
        let finished = finish.stdout.text + finish.stderr.text
        #expect(finished.contains("start (a repair that was cut off stopped them): rabbit-b@localhost\n"), "\(finished)")
        #expect(!finished.contains(": stopping the node"), "finishing the cut-off repair stopped a node: \(finished)")
        #expect(await bed.runningNodes(seenFrom: "b") != nil, "node b was not started")
        let after = await bed.wizard(["status"])
        #expect(!after.stdout.text.contains("restart pending on"), "\(after.stdout.text)")
        if finish.termination != .exited(code: 0) {
            #expect(finished.contains("run repair partition again"), "\(finished)")
            let again = await bed.wizard(["repair", "partition", "--keep-side-of", bed.nodeName("a"), "--yes"])
            #expect(again.termination == .exited(code: 0), "\(again.stdout.text)\(again.stderr.text)")
        }
        try await Self.expectWholeAndPauseMinority(bed, after: "finishing the cut-off repair")
    }

    /// Cuts node `letter` off from every other node (`erlang:disconnect_node`, from its side) with partition
    /// handling set to `ignore` in every running node, and waits until it recorded the partition (they meet
    /// again within seconds).
    static func cutOff(_ letter: String, in bed: SandboxBed) async throws {
        let handling = "application:set_env(rabbit, cluster_partition_handling, ignore)."
        for l in bed.letters { #expect(await bed.ctl(l, ["eval", handling]).termination == .exited(code: 0)) }
        let others = bed.letters.filter { $0 != letter }.map { "erlang:disconnect_node('\(bed.nodeName($0))')" }
        let cut = await bed.ctl(letter, ["eval", others.joined(separator: ", ") + "."])
        #expect(cut.termination == .exited(code: 0), "\(cut.stdout.text)\(cut.stderr.text)")
        let recorded = await Support.waitUntil(.seconds(90), every: .milliseconds(500)) { ((await bed.runningNodes(seenFrom: letter))?.partitions ?? 0) > 0 }
        try #require(recorded, "node \(letter) recorded no partition after the cut")
    }

    /// Every node runs with every other and none records a partition, seen from each; then the running nodes
    /// get the file's partition handling back.
    static func expectWholeAndPauseMinority(_ bed: SandboxBed, after what: String) async throws {
        for letter in bed.letters {
            let seen = await bed.runningNodes(seenFrom: letter)
            #expect(seen?.running == bed.letters.map(bed.nodeName) && seen?.partitions == 0, "after \(what), seen from \(letter): \(String(describing: seen))")
            let back = "application:set_env(rabbit, cluster_partition_handling, pause_minority)."
            #expect(await bed.ctl(letter, ["eval", back]).termination == .exited(code: 0))
        }
    }
}
