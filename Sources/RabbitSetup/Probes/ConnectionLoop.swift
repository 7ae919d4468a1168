import Foundation
import Synchronization

/// New AMQP connections (protocol header, Connection.Start) every 100 ms, on a thread of its own (the
/// probe blocks): what clients of the load balancer see. Used by the failover drill and by `watch`.
public final class ConnectionLoop: Sendable {
    public struct Stats: Sendable, Codable, Equatable {
        public var attempts = 0
        public var failed = 0
        /// The slowest attempt, answered or not.
        public var worstMilliseconds = 0
        /// The longest stretch from a failed attempt's start to the next answered one's end (or to now).
        public var longestOutageMilliseconds = 0
        var running = true
        var failingSince: ContinuousClock.Instant?

        enum CodingKeys: String, CodingKey { case attempts, failed, worstMilliseconds, longestOutageMilliseconds }
    }

    let probe: AMQPProbe
    private let stats = Mutex(Stats())
    private let finished = Mutex(false)

    public init(probe: AMQPProbe) { self.probe = probe }

    public func start() {
        let probe = self.probe
        Thread.detachNewThread { [self] in
            while stats.withLock({ $0.running }) {
                let t0 = ContinuousClock.now
                let ok = (try? probe.hello()) != nil
                let t1 = ContinuousClock.now
                stats.withLock { s in
                    s.attempts += 1
                    s.worstMilliseconds = max(s.worstMilliseconds, Self.milliseconds(t1 - t0))
                    if !ok {
                        s.failed += 1
                        s.failingSince = s.failingSince ?? t0
                    }
                    if let since = s.failingSince {
                        s.longestOutageMilliseconds = max(s.longestOutageMilliseconds, Self.milliseconds(t1 - since))
                        if ok { s.failingSince = nil }
                    }
                }
                usleep(100_000)
            }
            finished.withLock { $0 = true }
        }
    }

    /// The numbers so far, while the loop goes on.
    public var snapshot: Stats { stats.withLock { $0 } }

    /// Stops after the attempt under way and returns the numbers.
    @discardableResult
    public func stop() -> Stats {
        stats.withLock { $0.running = false }
        while !finished.withLock({ $0 }) { usleep(10_000) }
        return stats.withLock { $0 }
    }

    public static func milliseconds(_ d: Duration) -> Int {
        Int(d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000)
    }
}
