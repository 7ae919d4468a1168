import Foundation
import Glibc
import Synchronization

/// The command log: JSON Lines, one ``CommandRecord`` per line, append-only, mode 0600.
///
/// It is rotated by size: once the file passes ``rotateAt`` bytes it becomes `PATH.1` (the older ones
/// `PATH.2` ...), and at most ``keep`` rotated files are kept, the oldest deleted. ``readAll(path:)`` reads
/// them all, oldest first. Another process that still writes to a file that was rotated away notices it
/// on its next record and continues in the new file.
///
/// The file is opened with `O_NOFOLLOW`, so a symlink planted at its path is refused rather than
/// followed, and it must be a regular file owned by us. A record is written whole or not at all: when the
/// disk refuses part of it, the file is cut back to where the record began. A line cut off by a crash is
/// kept on its own line (the next record starts on a new one) and reported by ``read(path:)``.
public final class CommandLog: Sendable {
    public let path: String
    /// Size past which the file is rotated (default 8 MiB), and how many rotated files are kept (default 4).
    public let rotateAt: Int
    public let keep: Int
    private let fd: Mutex<Int32>
    /// Whether the file ended in the middle of a line when opened (a crash mid-write): the next record
    /// then starts with a newline, so it is not glued to the fragment.
    private let startsMidLine: Mutex<Bool>

    public enum Problem: Error, Equatable, Sendable {
        case cannotOpen(String, errno: Int32)
        case notARegularFile(String)
        case wrongOwner(String)
        case writeFailed(String, errno: Int32)
    }

    public static let defaultRotateAt = 8 << 20
    public static let defaultKeep = 4

    public init(path: String, rotateAt: Int = CommandLog.defaultRotateAt, keep: Int = CommandLog.defaultKeep) throws(Problem) {
        self.rotateAt = rotateAt
        self.keep = max(keep, 1)
        let fd = try CommandLog.openFile(path)
        var last: UInt8 = 0x0A
        var st = stat()
        fstat(fd, &st)
        if st.st_size > 0 { _ = pread(fd, &last, 1, off_t(st.st_size - 1)) }
        self.path = path
        self.fd = Mutex(fd)
        startsMidLine = Mutex(last != 0x0A)
    }

    /// Opens (or creates) the log file: a regular file of ours, never through a symlink, mode 0600.
    static func openFile(_ path: String) throws(Problem) -> Int32 {
        let fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .cannotOpen(path, errno: errno) }
        var st = stat()
        fstat(fd, &st)
        guard (st.st_mode & S_IFMT) == S_IFREG else { close(fd); throw .notARegularFile(path) }
        guard st.st_uid == geteuid() else { close(fd); throw .wrongOwner(path) }
        if st.st_mode & 0o077 != 0 { fchmod(fd, 0o600) }
        return fd
    }

    /// `PATH.N`, the Nth newest rotated file.
    public static func rotated(_ path: String, _ n: Int) -> String { "\(path).\(n)" }

    /// The log's files that exist, oldest first: `PATH.N` ... `PATH.1`, `PATH`.
    public static func files(path: String) -> [String] {
        var rotated: [String] = []
        var n = 1
        while FileManager.default.fileExists(atPath: CommandLog.rotated(path, n)) {
            rotated.append(CommandLog.rotated(path, n))
            n += 1
        }
        return rotated.reversed() + (FileManager.default.fileExists(atPath: path) ? [path] : [])
    }

    /// With `fd` locked: if another process rotated the file away, continue in the new one; if this file
    /// has grown past ``rotateAt``, rotate it and continue in a new one.
    private func rotateIfNeeded(_ fd: inout Int32) {
        var mine = stat(), named = stat()
        fstat(fd, &mine)
        let renamed = lstat(path, &named) != 0 || named.st_ino != mine.st_ino || named.st_dev != mine.st_dev
        if !renamed && Int(mine.st_size) < rotateAt { return }
        if !renamed {
            unlink(CommandLog.rotated(path, keep))
            for n in stride(from: keep - 1, through: 1, by: -1) { rename(CommandLog.rotated(path, n), CommandLog.rotated(path, n + 1)) }
            rename(path, CommandLog.rotated(path, 1))
        }
        if let fresh = try? CommandLog.openFile(path) {
            close(fd)
            fd = fresh
            startsMidLine.withLock { $0 = false }
        }
    }

    deinit { fd.withLock { _ = close($0) } }

    /// How records are written: one JSON object a line, keys sorted, `started` in ISO 8601 UTC with
    /// milliseconds (commands and requests take milliseconds now; a log from before has whole seconds,
    /// which ``read(path:)`` takes too).
    public static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(date))
        }
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .custom { decoder in
            let c = try decoder.singleValueContainer()
            let text = try c.decode(String.self)
            // Reads whole seconds too (logs written before milliseconds).
            guard let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an ISO 8601 time: \(text)")
            }
            return date
        }
        return d
    }()

    public func append(_ record: CommandRecord) throws(Problem) {
        var data: Data
        do { data = try CommandLog.encoder.encode(record) } catch {
            throw .writeFailed(path, errno: EINVAL)
        }
        data.append(0x0A)
        let failure: Int32? = fd.withLock { fd in
            rotateIfNeeded(&fd)
            if startsMidLine.withLock({ $0 }) { data.insert(0x0A, at: 0) }
            let start = lseek(fd, 0, SEEK_END)
            let error = data.withUnsafeBytes { raw -> Int32? in
                var offset = 0
                while offset < raw.count {
                    let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 { if errno == EINTR { continue }; return errno }
                    offset += n
                }
                return nil
            }
            // Whole or not at all: a record the disk took only part of is cut off again.
            if error != nil, start >= 0 { ftruncate(fd, start) }
            return error
        }
        if let failure { throw .writeFailed(path, errno: failure) }
        startsMidLine.withLock { $0 = false }
    }

    /// What ``read(path:)`` found: the records, and the lines that are not one (numbered from 1).
    public struct Contents: Sendable {
        public var records: [CommandRecord]
        public var damagedLines: [Int]
        /// With ``readAll(path:)``: damaged lines of the rotated files, by file.
        public var damagedRotated: [String: [Int]] = [:]
    }

    /// Every record of the log and its rotated files, oldest first. Throws when there is no log at all.
    public static func readAll(path: String) throws -> Contents {
        var all = Contents(records: [], damagedLines: [])
        let files = CommandLog.files(path: path)
        guard !files.isEmpty else { return try read(path: path) }
        for file in files {
            guard let contents = try? read(path: file) else { continue }
            all.records += contents.records
            if file == path { all.damagedLines = contents.damagedLines } else if !contents.damagedLines.isEmpty {
                all.damagedRotated[file] = contents.damagedLines
            }
        }
        return all
    }

    /// Reads every record; a line that is not one (cut off by a crash, or damaged) is skipped and named.
    public static func read(path: String) throws -> Contents {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let decoder = CommandLog.decoder
        var contents = Contents(records: [], damagedLines: [])
        for (index, line) in data.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
            if let record = try? decoder.decode(CommandRecord.self, from: Data(line)) {
                contents.records.append(record)
            } else {
                contents.damagedLines.append(index + 1)
            }
        }
        return contents
    }
}
