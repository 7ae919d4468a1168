import Foundation
import Glibc

/// The write-ahead journal: one file per run under `STATE/journal/`, append-only, mode 0600.
///
/// File format: a header line `rabbit-wizard-journal 1`, then one entry per line:
/// `<16 hex digits FNV-1a-64 of the JSON> <JSON of JournalEntry>`. Every append is fsynced before
/// `append` returns, so the entry exists before the action it announces. Reading verifies every checksum;
/// a damaged or torn entry makes the whole journal untrusted (``JournalProblem``).
public final class Journal: @unchecked Sendable {
    public static let header = "rabbit-wizard-journal 1"
    public let directory: String
    public let path: String
    private var fd: Int32
    private var seq: Int
    private let lock = NSLock()

    /// One entry as stored.
    public struct Entry: Sendable, Codable, Equatable {
        public var seq: Int
        public var at: Date
        public var event: JournalEvent
    }

    /// Opens a new run file in `directory` (created 0700 if missing).
    public init(directory: String) throws(JournalProblem) {
        if mkdir(directory, 0o700) != 0 && errno != EEXIST { throw .cannotWrite(directory, errno: errno) }
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var tm = tm()
        var secs = ts.tv_sec
        gmtime_r(&secs, &tm)
        let stamp = String(format: "%04d%02d%02dT%02d%02d%02d.%09dZ-%d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                           tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec, getpid())
        path = directory + "/" + stamp + ".journal"
        self.directory = directory
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .cannotWrite(path, errno: errno) }
        seq = 0
        do { try writeDurably(Journal.header + "\n") } catch {
            // Not even the header fits (a full disk): leave no empty or half file behind.
            close(fd)
            fd = -1
            unlink(path)
            throw error
        }
        let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    deinit { if fd >= 0 { close(fd) } }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        return e
    }()

    /// Appends and fsyncs one entry. Throws when the disk refuses: the caller must stop, since the
    /// action would otherwise happen unrecorded.
    public func append(_ event: JournalEvent) throws(JournalProblem) {
        lock.lock()
        defer { lock.unlock() }
        seq += 1
        let entry = Entry(seq: seq, at: Date(), event: event)
        guard let json = try? Journal.encoder.encode(entry) else { throw .cannotWrite(path, errno: EINVAL) }
        try writeDurably(Checksum.fnv1a64(json) + " " + String(decoding: json, as: UTF8.self) + "\n")
    }

    private func writeDurably(_ line: String) throws(JournalProblem) {
        let bytes = Array(line.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .cannotWrite(path, errno: errno)
            }
            offset += n
        }
        if fdatasync(fd) != 0 { throw .cannotWrite(path, errno: errno) }
    }

    // MARK: Reading

    /// Run files in `directory`, oldest first.
    public static func runFiles(in directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".journal") }.sorted().map { directory + "/" + $0 }
    }

    /// Every entry of every run, oldest first; throws on the first damaged line.
    public static func readAll(in directory: String) throws(JournalProblem) -> [Entry] {
        var all: [Entry] = []
        for file in runFiles(in: directory) { all += try read(file: file) }
        return all
    }

    public static func read(file: String) throws(JournalProblem) -> [Entry] {
        guard let data = FileManager.default.contents(atPath: file) else { throw .unreadable(file) }
        let text = String(decoding: data, as: UTF8.self)
        guard text.hasPrefix(header + "\n") else {
            if text.isEmpty || header.hasPrefix(text) { return [] }
            throw .corrupt(file: file, line: 1, reason: "not a rabbit-wizard journal (format 1)")
        }
        let torn = !text.hasSuffix("\n")
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropFirst().dropLast()
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        var entries: [Entry] = []
        for (index, line) in lines.enumerated() {
            let number = index + 2
            guard line.count > 17, line[line.index(line.startIndex, offsetBy: 16)] == " " else {
                throw .corrupt(file: file, line: number, reason: "entry has no checksum")
            }
            let sum = String(line.prefix(16))
            let json = Data(line.dropFirst(17).utf8)
            guard Checksum.fnv1a64(json) == sum else {
                throw .corrupt(file: file, line: number, reason: "checksum mismatch")
            }
            guard let entry = try? decoder.decode(Entry.self, from: json) else {
                throw .corrupt(file: file, line: number, reason: "entry cannot be read by this version")
            }
            entries.append(entry)
        }
        if torn {
            throw .truncated(file: file, validEntries: entries.count)
        }
        return entries
    }

    /// What ``prune(in:keepNewest:)`` did, and the journal it left.
    public struct Pruned: Sendable {
        /// The run files removed, oldest first.
        public var removed: [String]
        /// The folded journal (the same before and after), or nil when a run file cannot be read.
        public var state: JournalState?
    }

    /// Removes old run files nothing depends on. The newest `keepNewest` always stay; an older one goes
    /// only when the journal folded without it is the same as with it (every step's status, undo data,
    /// failure, owed restart and evidence), so no rollback, retry or reconcile can need it: the run that
    /// holds a done step's undo stays as long as that step can be rolled back. A journal with a damaged
    /// file is left whole. Call it under the run lock.
    public static func prune(in directory: String, keepNewest: Int) -> Pruned {
        let files = runFiles(in: directory)
        var runs: [[JournalEvent]] = []
        for file in files {
            guard let entries = try? read(file: file) else { return Pruned(removed: [], state: nil) }
            runs.append(entries.map(\.event))
        }
        let whole = JournalState(events: runs.flatMap { $0 })
        guard keepNewest >= 1, files.count > keepNewest else { return Pruned(removed: [], state: whole) }
        var kept = Array(repeating: true, count: files.count)
        var removed: [String] = []
        for index in 0..<(files.count - keepNewest) {
            kept[index] = false
            let without = JournalState(events: zip(kept, runs).filter(\.0).flatMap(\.1))
            if without == whole && unlink(files[index]) == 0 {
                removed.append(files[index])
            } else {
                kept[index] = true
            }
        }
        if !removed.isEmpty {
            let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if dfd >= 0 { fsync(dfd); close(dfd) }
        }
        return Pruned(removed: removed, state: whole)
    }

    /// The recovery path for a damaged journal: keep the damaged file as `FILE.damaged`, and write a copy of
    /// its valid entries (up to the first bad one) in its place. Servers are not touched; the next run
    /// reconciles whatever the lost entries described by observing them.
    public static func repair(file: String) throws(JournalProblem) -> Int {
        guard let data = FileManager.default.contents(atPath: file) else { throw .unreadable(file) }
        let text = String(decoding: data, as: UTF8.self)
        var keep = [header]
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropFirst() {
            guard line.count > 17, Checksum.fnv1a64(Data(line.dropFirst(17).utf8)) == String(line.prefix(16)) else { break }
            keep.append(String(line))
        }
        let damaged = file + ".damaged"
        guard rename(file, damaged) == 0 else { throw .cannotWrite(damaged, errno: errno) }
        let fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .cannotWrite(file, errno: errno) }
        defer { close(fd) }
        let out = Array((keep.joined(separator: "\n") + "\n").utf8)
        guard write(fd, out, out.count) == out.count, fsync(fd) == 0 else { throw .cannotWrite(file, errno: errno) }
        return keep.count - 1
    }
}

/// Why the journal cannot be written or trusted.
public enum JournalProblem: Error, Sendable, Equatable {
    case cannotWrite(String, errno: Int32)
    case unreadable(String)
    case corrupt(file: String, line: Int, reason: String)
    /// The last entry was cut off (a crash or a full disk mid-write).
    case truncated(file: String, validEntries: Int)

    /// What went wrong, in words, without what to do about it (that depends on who asks): "PATH: No space
    /// left on device".
    public var cause: String {
        switch self {
        case .cannotWrite(let path, let err): "\(path): \(String(cString: strerror(err)))"
        case .unreadable(let path): "\(path) cannot be read"
        case .corrupt(let file, let line, let reason): "\(file) is damaged at line \(line): \(reason)"
        case .truncated(let file, let valid): "the last entry of \(file) is cut off, after \(valid) good entries"
        }
    }

    /// The damaged file, where there is one.
    public var file: String? {
        switch self {
        case .corrupt(let f, _, _), .truncated(let f, _): f
        case .cannotWrite, .unreadable: nil
        }
    }
}
