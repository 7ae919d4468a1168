import Foundation
import Glibc

/// A process on this machine, told apart from a later one that got the same pid by its start time
/// (`/proc/PID/stat`, clock ticks since boot).
public struct ProcessIdentity: Codable, Sendable, Equatable {
    public var pid: Int32
    public var startTicks: UInt64?

    public init(pid: Int32, startTicks: UInt64?) {
        self.pid = pid
        self.startTicks = startTicks
    }

    /// This process.
    public static var current: ProcessIdentity { ProcessIdentity(pid: getpid(), startTicks: InFlight.startTicks(of: getpid())) }

    /// Whether it still runs: the pid exists, is not a zombie, and (where the start time is known) started
    /// when this one did.
    public var isRunning: Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let fields = InFlight.statFields(of: pid), fields.count > 19, fields[0] != "Z" else { return false }
        return startTicks.map { UInt64(fields[19]) == $0 } ?? true
    }
}
