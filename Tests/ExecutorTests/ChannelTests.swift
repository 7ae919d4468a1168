import Executor
import Foundation
import Glibc
import Synchronization
import TestKit
import Testing

/// ``Channel``: a long-lived process answering one line per request, with a real `sh` at the other end.
struct ChannelTests {
    /// Answers `ID WORD` with `ID got WORD`, except `slow` (answered after the next request) and `quit`
    /// (exits); writes its pid to `$1` first.
    static let answering = """
        echo $$ > "$0"
        read -r greeting
        held=""
        while read -r id word; do
            echo "$id $word" >> "$0.seen"
            case "$word" in
                slow) held=$id ;;
                quit) exit 3 ;;
                *) echo "noise without an id"; echo "$id got $word"; if [ -n "$held" ]; then echo "$held got late"; held=""; fi ;;
            esac
        done
        """

    func open(_ executor: Executor, _ root: String, key: String = "answering") -> (Channel, String) {
        let pidFile = root + "/" + key + ".pid"
        let channel = executor.channel(key, opening: CommandSpec(["sh", "-c", Self.answering, pidFile], mutates: false, step: "test"),
                                       greeting: "hello")
        return (channel, pidFile)
    }

    @Test func answersByIdAndSeveralMayWait() async throws {
        let root = Support.temporaryDirectory()
        defer { Support.remove(root) }
        let state = try StateDirectory(path: root + "/state")
        let executor = try Executor(state: state)
        let (channel, pidFile) = open(executor, root)
        // The first request is held until the second is answered: each waiter gets its own answer.
        async let slow = channel.request("slow", timeout: .seconds(30))
        // The slow one is read before the next is sent.
        #expect(await Support.waitUntil(.seconds(20)) { Support.read(pidFile + ".seen").contains("slow") })
        let fast = await channel.request("fast", timeout: .seconds(30))
        #expect(fast == .answer("got fast"))
        #expect(await slow == .answer("got late"))
        #expect(channel.everAnswered)
        // The same channel for the same key while it runs.
        #expect(executor.channel("answering", opening: CommandSpec(["false"], mutates: false)) === channel)

        let pid = Int32(Support.read(pidFile).trimmingCharacters(in: .whitespacesAndNewlines))!
        await executor.shutdown()
        #expect(Support.hasEnded(pid), "the channel's process outlived shutdown")
        #expect(channel.endedBecause != nil)
        let records = try CommandLog.read(path: state.commandLogPath).records
        let life = records.filter { $0.id == "channel answering" }
        #expect(life.count == 1 && life.first?.termination == .exited(code: 0) && life.first?.argv.first == "sh", "\(records)")
    }

    @Test func aRequestWithoutAnswerTimesOutAndAnEndedProcessAnswersAtOnce() async throws {
        let root = Support.temporaryDirectory()
        defer { Support.remove(root) }
        let executor = try Executor(state: try StateDirectory(path: root + "/state"))
        let (channel, _) = open(executor, root)
        #expect(await channel.request("slow", timeout: .milliseconds(500)) == .timedOut)
        #expect(await channel.request("one", timeout: .seconds(30)) == .answer("got one"))
        // The process exits: the waiting request ends with the reason, not at its deadline.
        let ended = await channel.request("quit", timeout: .seconds(600))
        guard case .ended(let why) = ended else { Issue.record("not ended: \(ended)"); return }
        #expect(why.contains("ended"), "\(why)")
        if case .ended = await channel.request("again", timeout: .seconds(600)) {} else { Issue.record("a request after the end did not end at once") }
        // It had answered before, so the next ask starts a new one.
        let (fresh, _) = open(executor, root)
        #expect(fresh !== channel)
        #expect(await fresh.request("two", timeout: .seconds(30)) == .answer("got two"))
        await executor.shutdown()
    }

    /// A channel that cannot start stays ended, its notice claimed once, until a command that changes
    /// something has run: then the next ask starts it again (the screen's session spans many runs, and a
    /// run may create what was missing).
    @Test func aChannelThatCannotStartStaysEndedUntilSomethingChanges() async throws {
        let root = Support.temporaryDirectory()
        defer { Support.remove(root) }
        let executor = try Executor(state: try StateDirectory(path: root + "/state"))
        let program = root + "/answerer"
        let spec = CommandSpec([program], mutates: false)
        let channel = executor.channel("missing", opening: spec)
        let reply = await channel.request("x", timeout: .seconds(600))
        guard case .ended(let why) = reply else { Issue.record("not ended: \(reply)"); return }
        #expect(why.contains(program), "\(why)")
        #expect(!channel.everAnswered)
        #expect(executor.channel("missing", opening: spec) === channel, "a channel that never answered was started again")
        #expect(channel.claimNotice() && !channel.claimNotice(), "the notice is claimed once")

        // A read-only command changes nothing: still the ended one.
        _ = await executor.run(CommandSpec(["true"], mutates: false))
        #expect(executor.channel("missing", opening: spec) === channel)
        // The program appears through a command that changes something: the next ask starts it.
        let made = await executor.run(CommandSpec(["sh", "-c", "printf '#!/bin/sh\\nexec cat\\n' > \"$0\" && chmod 755 \"$0\"", program], mutates: true))
        #expect(made.succeeded, "\(made.stderr)")
        let again = executor.channel("missing", opening: spec)
        #expect(again !== channel)
        #expect(await again.request("echoed", timeout: .seconds(30)) == .answer("echoed"))
        await executor.shutdown()
    }

    /// A server reached through the PowerShell dialect (Windows) takes no channel yet: the channel ends
    /// with the reason before any ssh starts (`ssh` here is a program that does not exist), and the reads
    /// use the CLI.
    @Test func aWindowsServerGetsNoChannelYet() async throws {
        let root = Support.temporaryDirectory()
        defer { Support.remove(root) }
        let executor = Executor(commandLog: nil, ssh: SSHOptions(knownHostsFile: root + "/known_hosts", controlDirectory: root,
                                                                 sshProgram: "/nonexistent/ssh"))
        let target = Target.ssh(try SSHDestination(url: "ssh://admin@server-w:22")).speaking(.powershell)
        let channel = executor.channel("win", opening: CommandSpec(["erl.exe"], on: target, mutates: false))
        let reply = await channel.request("x", timeout: .seconds(600))
        #expect(reply == .ended("could not start: no long-lived channel to powershell servers yet"), "\(reply)")
        #expect(!channel.everAnswered)
        await executor.shutdown()
    }
}
