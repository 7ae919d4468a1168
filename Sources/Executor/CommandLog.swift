import Foundation
import Glibc
import Synchronization

/// The command log: JSON Lines, one ``CommandRecord`` per line, append-only, mode 0600.
///
/// The file is opened with `O_NOFOLLOW`, so a symlink planted at its path is refused rather than
/// followed, and it must be a regular file owned by us. Each record is one `write(2)` of a whole line.
public final class CommandLog: Sendable {
    public let path: String
    private let fd: Mutex<Int32>

    public enum Problem: Error, Equatable, Sendable {
        case cannotOpen(String, errno: Int32)
        case notARegularFile(String)
        case wrongOwner(String)
        case writeFailed(String, errno: Int32)
    }

    public init(path: String) throws(Problem) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .cannotOpen(path, errno: errno) }
        var st = stat()
        fstat(fd, &st)
        guard (st.st_mode & S_IFMT) == S_IFREG else { close(fd); throw .notARegularFile(path) }
        guard st.st_uid == geteuid() else { close(fd); throw .wrongOwner(path) }
        if st.st_mode & 0o077 != 0 { fchmod(fd, 0o600) }
        self.path = path
        self.fd = Mutex(fd)
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
        let ok = fd.withLock { fd in
            data.withUnsafeBytes { raw -> Bool in
                var offset = 0
                while offset < raw.count {
                    let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 { if errno == EINTR { continue }; return false }
                    offset += n
                }
                return true
            }
        }
        if !ok { throw .writeFailed(path, errno: errno) }
    }

    /// Reads every complete record; a torn last line (a crash mid-write) is skipped.
    public static func read(path: String) throws -> [CommandRecord] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return data.split(separator: 0x0A).compactMap { try? decoder.decode(CommandRecord.self, from: Data($0)) }
    }
}
