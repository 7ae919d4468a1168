import Foundation
import Glibc
import Subprocess
import Synchronization

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// A long-lived process the product exchanges lines with (on this machine or over ssh), for as long as
/// one run lasts: a request is one line `ID PAYLOAD` on its stdin, the answer one line `ID ANSWER` on its
/// stdout (other lines are ignored), so several requests may wait at once. Closing its stdin asks it to
/// end; the executor closes every channel in ``Executor/shutdown()``, and a channel whose product dies
/// sees its stdin close too. Nothing secret may travel in a request or an answer: they are logged.
///
/// Opened by ``Executor/channel(_:opening:)``, which records the process in the command log when it ends;
/// each request is recorded by its user with ``Executor/record(request:on:step:started:outcome:answer:)``.
public final class Channel: Sendable {
    public enum Reply: Sendable, Equatable {
        /// The answer line, without its id.
        case answer(String)
        /// No answer within the request's time (the channel stays open; a late answer is dropped).
        case timedOut
        /// The process is gone or never started: why.
        case ended(String)
    }

    /// What the command log calls it: `channel <key>`.
    public let label: String
    public let target: Target
    private let state = Mutex(State())
    private let outgoing: AsyncStream<[UInt8]>.Continuation
    private let queued: Mutex<AsyncStream<[UInt8]>?>

    struct State {
        var pid: Int32?
        var pending: [Int: CheckedContinuation<Reply, Never>] = [:]
        var next = 0
        var ended: String?
        var answered = false
        var noticed = false
        var partial: [UInt8] = []
        var stderrTail: [UInt8] = []
    }

    /// The executor's count of changes when it was opened.
    let openedAfterChanges: Int

    init(label: String, target: Target, greeting: String?, openedAfterChanges: Int = 0) {
        self.label = label
        self.target = target
        self.openedAfterChanges = openedAfterChanges
        let (stream, continuation) = AsyncStream<[UInt8]>.makeStream()
        outgoing = continuation
        queued = Mutex(stream)
        if let greeting { continuation.yield(Array((greeting + "\n").utf8)) }
    }

    /// True once: for a notice about this channel that must be said only once.
    public func claimNotice() -> Bool { state.withLock { s in defer { s.noticed = true }; return !s.noticed } }

    /// Whether it ever answered a request.
    public var everAnswered: Bool { state.withLock { $0.answered } }

    /// Why it ended, or nil while it runs.
    public var endedBecause: String? { state.withLock { $0.ended } }

    /// Sends `payload` (one line, no newline) and waits for its answer, at most `timeout`.
    public func request(_ payload: String, timeout: Duration) async -> Reply {
        precondition(!payload.contains("\n"), "a request is one line")
        return await withCheckedContinuation { (continuation: CheckedContinuation<Reply, Never>) in
            let id = state.withLock { s -> Int? in
                guard s.ended == nil else { return nil }
                s.next += 1
                s.pending[s.next] = continuation
                return s.next
            }
            guard let id else { return continuation.resume(returning: .ended(endedBecause ?? "ended")) }
            outgoing.yield(Array("\(id) \(payload)\n".utf8))
            Task { [weak self] in
                try? await Task.sleep(for: timeout)
                if let waiting = self?.state.withLock({ $0.pending.removeValue(forKey: id) }) { waiting.resume(returning: .timedOut) }
            }
        }
    }

    /// Closes its stdin (the process is expected to end by itself), then ends its process group if it
    /// is still there after `grace`.
    func close(grace: Duration) async {
        outgoing.finish()
        guard let pid = state.withLock({ $0.pid }) else { return }
        if await ProcessWatch.waitUntilGone(group: pid, within: grace) { return }
        kill(-pid, SIGTERM)
        if await ProcessWatch.waitUntilGone(group: pid, within: .seconds(1)) { return }
        kill(-pid, SIGKILL)
    }

    /// Every waiting request gets `.ended(why)`; later ones get it at once.
    func end(_ why: String) {
        let waiting = state.withLock { s -> [CheckedContinuation<Reply, Never>] in
            if s.ended == nil { s.ended = why }
            defer { s.pending = [:] }
            return Array(s.pending.values)
        }
        outgoing.finish()
        for w in waiting { w.resume(returning: .ended(why)) }
    }

    private func received(_ bytes: UnsafeRawBufferPointer) {
        var answers: [(CheckedContinuation<Reply, Never>, String)] = []
        state.withLock { s in
            for byte in bytes {
                guard byte == 0x0A else { s.partial.append(byte); continue }
                let line = String(decoding: s.partial, as: UTF8.self)
                s.partial.removeAll(keepingCapacity: true)
                guard let space = line.firstIndex(of: " "), let id = Int(line[..<space]),
                    let waiting = s.pending.removeValue(forKey: id)
                else { continue }
                s.answered = true
                answers.append((waiting, String(line[line.index(after: space)...])))
            }
        }
        for (waiting, answer) in answers { waiting.resume(returning: .answer(answer)) }
    }

    private func receivedError(_ bytes: UnsafeRawBufferPointer) {
        state.withLock { s in
            s.stderrTail.append(contentsOf: bytes)
            if s.stderrTail.count > 4096 { s.stderrTail.removeFirst(s.stderrTail.count - 4096) }
        }
    }

    /// The last lines it wrote to stderr (why it could not start, most often).
    var stderrTail: String { state.withLock { String(decoding: $0.stderrTail, as: UTF8.self) } }

    /// Runs the process until its stdin is closed and it ends (or it ends by itself).
    func run(argv: [String], killGrace: Duration) async -> (Termination, Int32?) {
        guard let program = argv.first, !program.isEmpty, let stream = queued.withLock({ q in defer { q = nil }; return q }) else {
            end("nothing to start")
            return (.couldNotStart(reason: "empty argv"), nil)
        }
        do {
            let result = try await Subprocess.run(
                LocalTransport.executable(program), arguments: Arguments(Array(argv.dropFirst())), environment: .inherit,
                platformOptions: LocalTransport.platformOptions(killGrace: killGrace),
                input: .inputWriter, output: .sequence, error: .sequence
            ) { execution in
                state.withLock { $0.pid = execution.processIdentifier.value }
                async let out: Void = {
                    do { for try await buffer in execution.standardOutput { buffer.withUnsafeBytes { self.received($0) } } } catch {}
                    self.end("it ended")
                }()
                async let err: Void = {
                    do { for try await buffer in execution.standardError { buffer.withUnsafeBytes { self.receivedError($0) } } } catch {}
                }()
                for await chunk in stream {
                    do { _ = try await execution.standardInputWriter.write(chunk) } catch { break }
                }
                try? await execution.standardInputWriter.finish()
                await out
                await err
            }
            let termination: Termination =
                switch result.terminationStatus {
                case .exited(let code): .exited(code: code)
                case .signaled(let signal): .signaled(signal: signal)
                }
            end("it ended (\(termination))")
            return (termination, result.processIdentifier.value)
        } catch {
            let reason = LocalTransport.describe(error, program: program, spec: CommandSpec(argv, mutates: false))
            end("could not start: \(reason)")
            return (.couldNotStart(reason: reason), nil)
        }
    }
}

/// The channels of one executor, by key.
struct Channels {
    var open: [String: Channel] = [:]
    var tasks: [Task<Void, Never>] = []
}

extension Executor {
    /// The channel for `key` (for example one per RabbitMQ node), started with `spec` the first time it is
    /// asked for and kept until ``shutdown()``. One that ended after it had answered is started again (its
    /// process died, say); one that never answered stays ended (it cannot start here) until a command
    /// that changes something has run (a cookie file written, say: the screen's session lasts for many runs).
    /// `greeting` is its first line, before any request (a program for it to run, say). `spec`'s stdin and
    /// timeout are not used: the channel lives as long as the run. Over ssh it speaks through the target's
    /// dialect like any command (only POSIX servers take channels so far: others get one that has ended).
    public func channel(_ key: String, opening spec: @autoclosure () -> CommandSpec, greeting: String? = nil) -> Channel {
        channels.withLock { c in
            let changes = changeCount
            if let existing = c.open[key],
                existing.endedBecause == nil || (!existing.everAnswered && existing.openedAfterChanges == changes)
            {
                return existing
            }
            let spec = spec()
            let channel = Channel(label: "channel \(key)", target: spec.target, greeting: greeting, openedAfterChanges: changes)
            c.open[key] = channel
            c.tasks.append(Task.detached { [self] in await self.runChannel(channel, spec: spec) })
            return channel
        }
    }

    private func runChannel(_ channel: Channel, spec: CommandSpec) async {
        let redactor = Redactor(secrets: knownSecretsNow + spec.knownSecrets)
        var argv = spec.argv
        // A scripted transport (tests of what is sent where) answers commands only: no real process starts.
        if case .local = spec.target, !(local is LocalTransport) {
            return channel.end("could not start: commands on this machine go to a scripted transport")
        }
        if case .ssh(let destination) = spec.target {
            guard let ssh = remote == nil ? ssh : nil else {
                return channel.end("could not start: no ssh configuration for \(spec.target)")
            }
            switch ssh.channelArgv(for: spec, on: destination) {
            case .success(let a): argv = a
            case .failure(let refused):
                channel.end("could not start: \(refused.reason)")
                logChannel(channel, spec: spec, redactor: redactor, started: Date(), duration: .zero, termination: .couldNotStart(reason: refused.reason), pid: nil)
                return
            }
        }
        let started = Date()
        let clock = ContinuousClock()
        let start = clock.now
        let (termination, pid) = await channel.run(argv: argv, killGrace: limits.killGrace)
        logChannel(channel, spec: spec, redactor: redactor, started: started, duration: clock.now - start, termination: termination, pid: pid)
    }

    private func logChannel(_ channel: Channel, spec: CommandSpec, redactor: Redactor, started: Date, duration: Duration,
                            termination: Termination, pid: Int32?)
    {
        let record = CommandRecord(
            id: "\(channel.label)", step: spec.step, target: spec.target.description, argv: spec.argv.map { redactor.scrub($0) },
            mutates: false, stdin: "requests, one per line", started: started, durationSeconds: duration.seconds, termination: termination,
            pid: pid, stdoutTail: "", stderrTail: redactor.scrub(channel.stderrTail), stdoutBytes: 0, stderrBytes: channel.stderrTail.utf8.count,
            via: nil)
        append(record)
    }

    /// Records one request answered (or not) over `channel` in the command log, like a command: the
    /// request's words as argv, `via` the channel, exit 0 for an answer and 1 for a refusal, `.timedOut`,
    /// or `.couldNotStart` when the channel had ended. Secrets known to the executor are scrubbed.
    public func record(request words: [String], on channel: Channel, step: StepID?, started: Date, outcome: Termination, answer: String) {
        let redactor = Redactor(secrets: knownSecretsNow)
        let elapsed = Date().timeIntervalSince(started)
        let tail = String(answer.utf8.suffix(limits.logTail)) ?? ""
        let record = CommandRecord(
            id: "\(channel.label)-\(nextID())", step: step, target: channel.target.description, argv: words.map { redactor.scrub($0) },
            mutates: false, stdin: nil, started: started, durationSeconds: elapsed, termination: outcome, pid: nil,
            stdoutTail: redactor.scrub(tail), stderrTail: "", stdoutBytes: answer.utf8.count, stderrBytes: 0, via: channel.label)
        append(record)
    }

    /// Closes every channel (their processes end once their stdin closes; after `grace` they are ended).
    func closeChannels() async {
        let (open, tasks) = channels.withLock { c in
            defer { c.open = [:]; c.tasks = [] }
            return (Array(c.open.values), c.tasks)
        }
        // All at once: each waits for its process (over ssh, for the far end to halt and ssh to end).
        await withTaskGroup(of: Void.self) { group in
            for channel in open { group.addTask { await channel.close(grace: .seconds(2)) } }
        }
        for task in tasks { await task.value }
    }
}

extension Duration {
    /// The duration in seconds, fractions included.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
