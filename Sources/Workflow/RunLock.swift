import Foundation
import Glibc

/// One wizard at a time per state directory: `STATE/lock` holds pid, host and start time, and the
/// holder keeps an exclusive `flock` on it for as long as it runs.
///
/// A live holder keeps the flock, so a second wizard is refused and told who holds it. A lock file
/// whose flock is free belongs to a wizard that died: it is stale, and is taken over only when the
/// caller says so (`takeOverStale`), never silently.
public final class RunLock: @unchecked Sendable {
    public struct Holder: Sendable, Codable, Equatable, CustomStringConvertible {
        public var pid: Int32
        public var host: String
        public var started: Date
        public var command: String

        public var description: String {
            "pid \(pid) on \(host) (\(command), started \(ISO8601DateFormatter().string(from: started)))"
        }
    }

    public enum Problem: Error, Sendable, Equatable {
        /// Another wizard runs now.
        case held(by: Holder?)
        /// A wizard died holding the lock; confirm to take it over.
        case stale(Holder?)
        case cannotOpen(String, errno: Int32)
    }

    public let path: String
    private var fd: Int32

    public init(stateDirectory: String, command: String, takeOverStale: Bool) throws(Problem) {
        path = stateDirectory + "/lock"
        fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .cannotOpen(path, errno: errno) }
        let previous = RunLock.readHolder(fd)
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw .held(by: previous)
        }
        if previous != nil && !takeOverStale {
            flock(fd, LOCK_UN)
            close(fd)
            throw .stale(previous)
        }
        let me = Holder(pid: getpid(), host: ProcessInfo.processInfo.hostName, started: Date(), command: command)
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let data = (try? encoder.encode(me)) ?? Data()
        ftruncate(fd, 0)
        _ = data.withUnsafeBytes { pwrite(fd, $0.baseAddress, data.count, 0) }
        fsync(fd)
    }

    /// Reads who holds (or held) the lock, without taking it.
    public static func holder(stateDirectory: String) -> (holder: Holder?, alive: Bool) {
        let fd = open(stateDirectory + "/lock", O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return (nil, false) }
        defer { close(fd) }
        let holder = readHolder(fd)
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return (holder, false)
        }
        return (holder, true)
    }

    static func readHolder(_ fd: Int32) -> Holder? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = pread(fd, &buffer, buffer.count, 0)
        guard n > 0 else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(Holder.self, from: Data(buffer[..<n]))
    }

    /// Empties the lock file and releases it: the normal end of a run.
    public func release() {
        guard fd >= 0 else { return }
        ftruncate(fd, 0)
        fsync(fd)
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    deinit { release() }
}
