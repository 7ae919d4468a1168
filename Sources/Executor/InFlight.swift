import Foundation
import Glibc

/// The commands that change something, while they run: one small file per command in
/// `STATE/running/` (0700; files 0600), written once the process has started and removed once it has
/// ended. Children run in their own sessions, so a run that is aborted (a second Ctrl-C, SIGHUP, a
/// crash, SIGKILL) leaves them running on purpose (a restart cut in half is worse than one that ends);
/// their files stay behind, and the next run waits for those processes before it acts (``wait``).
///
/// A process is recognised by its pid and its start time (`/proc/PID/stat`), so a reused pid is never
/// mistaken for the command. The whole process group counts: the command's own children too.
public struct InFlight: Sendable {
    public let directory: String

    /// One command as recorded; argv is already scrubbed of secrets.
    public struct Entry: Codable, Sendable, Equatable {
        public var pid: Int32
        public var startTicks: UInt64?
        public var argv: [String]
        public var target: String
        public var step: StepID?
        public var started: Date
        public var timeoutSeconds: Double

        /// For the operator: the command and where it runs.
        public var summary: String { "\(argv.joined(separator: " ")) on \(target) (pid \(pid))" }
    }

    public init(directory: String) throws(StateDirectory.Problem) {
        try StateDirectory.privateFolder(directory)
        self.directory = directory
    }

    func path(_ pid: Int32) -> String { "\(directory)/\(pid).json" }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        return e
    }()

    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }()

    /// Records a started command. Best effort: not being able to write never stops the command.
    /// Written to `PID.json.partial`, then renamed: a run killed in between leaves either no entry or a
    /// whole one, never an empty file that the next run would have to throw away (and so not wait for a
    /// command that still runs).
    func add(_ entry: Entry) {
        guard let data = try? InFlight.encoder.encode(entry) else { return }
        let partial = path(entry.pid) + InFlight.partialSuffix
        let fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == data.count, rename(partial, path(entry.pid)) == 0 else {
            unlink(partial)
            return
        }
    }

    static let partialSuffix = ".partial"

    func remove(pid: Int32) { unlink(path(pid)) }

    /// Fields 3.. of `/proc/PID/stat` (after the command name, which may hold spaces and parentheses):
    /// [0] state, [2] process group, [19] start time in clock ticks since boot.
    static func statFields(of pid: Int32) -> [Substring]? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(after: close)...].split(separator: " ")
    }

    static func startTicks(of pid: Int32) -> UInt64? {
        guard let fields = statFields(of: pid), fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }

    /// Whether the command (or a process of its group) still runs. A pid that runs something started at
    /// another time is another process; a group whose leader has ended lives on through its members
    /// (Linux does not hand out a pid that is still some group's id). Zombies do not count: nobody may
    /// be left to reap them once the run that started them is gone.
    static func isRunning(_ entry: Entry) -> Bool {
        guard kill(-entry.pid, 0) == 0 || errno == EPERM else { return false }
        if let leader = statFields(of: entry.pid), leader.count > 19, leader[0] != "Z", Int32(leader[2]) == entry.pid {
            return entry.startTicks.map { UInt64(leader[19]) == $0 } ?? true
        }
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init)
        return pids.contains { pid in
            guard let f = statFields(of: pid), f.count > 2 else { return false }
            return f[0] != "Z" && Int32(f[2]) == entry.pid
        }
    }

    /// The recorded commands that still run, oldest first; files of ended ones are removed.
    public func leftovers() -> [Entry] {
        promotePartials()
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var running: [Entry] = []
        for name in names where name.hasSuffix(".json") {
            let file = directory + "/" + name
            guard let data = FileManager.default.contents(atPath: file), let entry = try? InFlight.decoder.decode(Entry.self, from: data) else {
                unlink(file)
                continue
            }
            if InFlight.isRunning(entry) { running.append(entry) } else { unlink(file) }
        }
        return running.sorted { $0.started < $1.started }
    }

    /// A partial entry is left by a run killed between writing it and renaming it: whole, it still names
    /// a command and takes its final name; cut short, there is nothing to read and it goes.
    private func promotePartials() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names where name.hasSuffix(".json" + InFlight.partialSuffix) {
            let file = directory + "/" + name
            if let data = FileManager.default.contents(atPath: file), (try? InFlight.decoder.decode(Entry.self, from: data)) != nil {
                rename(file, String(file.dropLast(InFlight.partialSuffix.count)))
            } else {
                unlink(file)
            }
        }
    }

    /// Waits until every left-over command has ended, saying what it waits for about every 5 s. The
    /// run that started a command is gone, so its time-out is enforced here as that run would have:
    /// past it, the process group gets SIGTERM, then SIGKILL after `grace`. Returns the commands that
    /// had to be stopped that way (empty: all ended by themselves).
    @discardableResult
    public func wait(grace: Duration = .seconds(2), poll: Duration = .milliseconds(200), progress: (String) -> Void) async -> [Entry] {
        let clock = ContinuousClock()
        var lastSaid: ContinuousClock.Instant?
        var terminated: [Int32: ContinuousClock.Instant] = [:]
        var stopped: [Entry] = []
        while true {
            let left = leftovers()
            if left.isEmpty { return stopped }
            for entry in left where Date().timeIntervalSince(entry.started) > entry.timeoutSeconds {
                if let at = terminated[entry.pid] {
                    if clock.now - at >= grace { kill(-entry.pid, SIGKILL) }
                } else {
                    progress("\(entry.summary), left running by an interrupted run, is past its time-out of \(Int(entry.timeoutSeconds)) s: stopping it")
                    kill(-entry.pid, SIGTERM)
                    terminated[entry.pid] = clock.now
                    stopped.append(entry)
                }
            }
            if lastSaid.map({ clock.now - $0 >= .seconds(5) }) ?? true {
                let oldest = left[0]
                progress("waiting for \(left.count) command(s) left running by an interrupted run: \(oldest.summary), "
                         + "running for \(Int(Date().timeIntervalSince(oldest.started))) s")
                lastSaid = clock.now
            }
            try? await Task.sleep(for: poll)
        }
    }
}
