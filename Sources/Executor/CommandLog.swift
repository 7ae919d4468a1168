import Foundation
import Glibc
import Synchronization

/// The command log: JSON Lines, one ``CommandRecord`` per line, append-only, mode 0600.
///
/// The file is opened with `O_NOFOLLOW`, so a symlink planted at its path is refused rather than
/// followed, and it must be a regular file owned by us. A record is written whole or not at all: when the
/// disk refuses part of it, the file is cut back to where the record began. A line cut off by a crash is
/// kept on its own line (the next record starts on a new one) and reported by ``read(path:)``.
public final class CommandLog: Sendable {
    public let path: String
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

    public init(path: String) throws(Problem) {
        let fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .cannotOpen(path, errno: errno) }
        var st = stat()
        fstat(fd, &st)
        guard (st.st_mode & S_IFMT) == S_IFREG else { close(fd); throw .notARegularFile(path) }
        guard st.st_uid == geteuid() else { close(fd); throw .wrongOwner(path) }
        if st.st_mode & 0o077 != 0 { fchmod(fd, 0o600) }
        var last: UInt8 = 0x0A
        if st.st_size > 0 { _ = pread(fd, &last, 1, off_t(st.st_size - 1)) }
        self.path = path
        self.fd = Mutex(fd)
        startsMidLine = Mutex(last != 0x0A)
    }

    deinit { fd.withLock { _ = close($0) } }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .iso8601
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    public func append(_ record: CommandRecord) throws(Problem) {
        var data: Data
        do { data = try CommandLog.encoder.encode(record) } catch {
            throw .writeFailed(path, errno: EINVAL)
        }
        data.append(0x0A)
        if startsMidLine.withLock({ $0 }) { data.insert(0x0A, at: 0) }
        let failure: Int32? = fd.withLock { fd in
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
    }

    /// Reads every record; a line that is not one (cut off by a crash, or damaged) is skipped and named.
    public static func read(path: String) throws -> Contents {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
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
