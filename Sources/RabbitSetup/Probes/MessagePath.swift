import Executor
import Foundation
import Synchronization

/// Cache invalidation messages through the load balancer, as an OutSystems front end sends and receives
/// them: a publisher that sends a numbered message to a fanout exchange every `interval`, and a subscriber
/// with an exclusive auto-delete queue bound to it, each on a long-lived connection of its own with
/// heartbeats, each on a thread of its own (``AMQPClient`` blocks). A connection that fails is opened
/// again through the load balancer and everything is declared again, as a real client does.
///
/// Counted: messages published (written to the connection without an error), confirmed (acknowledged by
/// the broker: publisher confirms), delivered (to the
/// subscriber, each number once), lost (published and never delivered: a message published while no
/// subscriber queue exists is lost by design of exclusive queues, and OutSystems loses it too), the longest
/// gap between deliveries while publishing, the subscriber's longest reconnect (from noticing the loss to
/// consuming again), the connections lost and the failed attempts to connect again.
public final class MessagePath: Sendable {
    public struct Endpoint: Sendable {
        public var host: String
        public var port: Int
        public var user: String
        public var password: Secret
        public var vhost: String

        public init(host: String, port: Int, user: String, password: Secret, vhost: String) {
            self.host = host
            self.port = port
            self.user = user
            self.password = password
            self.vhost = vhost
        }
    }

    public struct Stats: Sendable, Codable, Equatable {
        public var published = 0
        /// Published messages the broker acknowledged (publisher confirms): it had them. The rest of the
        /// published were written to a connection that was already dead (a silent failure is noticed late).
        public var confirmed = 0
        public var delivered = 0
        public var lost = 0
        public var longestGapMilliseconds = 0
        /// The subscriber's longest time from noticing a lost connection to consuming again.
        public var reconnectMilliseconds = 0
        public var subscriberDisconnects = 0
        public var publisherDisconnects = 0
        /// Attempts to connect again (either client) that failed.
        public var failedConnects = 0
        /// The last failure either client saw, in words (nil: none).
        public var lastFailure: String?

        public init() {}
    }

    /// What the threads share.
    struct State {
        var stats = Stats()
        var published = Set<Int>()
        var confirmed = Set<Int>()
        var delivered = Set<Int>()
        var publishing = true
        var subscribing = true
        var publisherDone = false
        var subscriberDone = false
        var subscribed = false
        var lastDelivery: ContinuousClock.Instant?
        /// Set when publishing ends: gaps after it are not gaps in the flow.
        var publishingEnded: ContinuousClock.Instant?
    }

    public let endpoint: Endpoint
    public let exchange: String
    /// The messages' prefix: this path's own, so other traffic on the exchange is not counted.
    public let run: String
    public let heartbeat: Int
    public let interval: Duration
    private let state = Mutex(State())

    public init(endpoint: Endpoint, exchange: String = "rabbit-wizard.drill", run: String = UUID().uuidString, heartbeat: Int = 2,
                interval: Duration = .milliseconds(100))
    {
        self.endpoint = endpoint
        self.exchange = exchange
        self.run = run
        self.heartbeat = heartbeat
        self.interval = interval
    }

    /// A client of this path through the endpoint, named `role` in the server's connection list.
    public func connect(_ role: String) throws(AMQPProbe.Failure) -> AMQPClient {
        let c = try AMQPClient.connect(host: endpoint.host, port: endpoint.port, user: endpoint.user, password: endpoint.password,
                                       vhost: endpoint.vhost, heartbeat: heartbeat, name: connectionName(role))
        do throws(AMQPProbe.Failure) { try c.declareFanout(exchange) } catch { c.close(); throw error }
        return c
    }

    /// The name the server lists for this path's `role` client (`subscriber`, `publisher`).
    public func connectionName(_ role: String) -> String { "rabbit-wizard drill \(role) \(run.prefix(8))" }

    /// Makes `client` (from ``connect(_:)``) the subscriber: its queue declared, bound and consumed.
    public static func subscribe(_ client: AMQPClient, to exchange: String) throws(AMQPProbe.Failure) {
        let queue = try client.declareExclusiveQueue(boundTo: exchange)
        try client.consume(queue)
    }

    /// Starts both threads with the clients given (connected by ``connect(_:)``, the subscriber already
    /// consuming: placed by the caller), or connects them itself. Returns once both are running.
    public func start(subscriber: AMQPClient? = nil, publisher: AMQPClient? = nil) {
        state.withLock { $0.lastDelivery = ContinuousClock.now; $0.subscribed = subscriber != nil }
        Thread.detachNewThread { [self] in subscribe(subscriber) }
        Thread.detachNewThread { [self] in publish(publisher) }
    }

    /// The numbers so far.
    public var snapshot: Stats { state.withLock { s in Self.finished(s) } }

    /// Stops publishing, waits up to `drain` for the messages in flight, stops the subscriber and returns
    /// the numbers.
    @discardableResult
    public func stop(drain: Duration = .seconds(2)) -> Stats {
        state.withLock { $0.publishing = false }
        while !state.withLock({ $0.publisherDone }) { usleep(10_000) }
        let end = ContinuousClock.now.advanced(by: drain)
        while ContinuousClock.now < end && !state.withLock({ $0.published.isSubset(of: $0.delivered) }) { usleep(20_000) }
        state.withLock { $0.subscribing = false }
        while !state.withLock({ $0.subscriberDone }) { usleep(10_000) }
        return state.withLock { s in Self.finished(s) }
    }

    static func finished(_ s: State) -> Stats {
        var out = s.stats
        out.published = s.published.count
        out.confirmed = s.confirmed.count
        out.delivered = s.delivered.intersection(s.published).count
        out.lost = s.published.subtracting(s.delivered).count
        // A subscriber still waiting when publishing ended: that wait is a gap too.
        if let last = s.lastDelivery {
            let now = s.publishingEnded ?? ContinuousClock.now
            if now > last { out.longestGapMilliseconds = max(out.longestGapMilliseconds, ConnectionLoop.milliseconds(now - last)) }
        }
        return out
    }

    func subscribe(_ given: AMQPClient?) {
        var client = given
        var lostAt: ContinuousClock.Instant?
        while state.withLock({ $0.subscribing }) {
            if client == nil {
                do {
                    let c = try connect("subscriber")
                    do throws(AMQPProbe.Failure) { try Self.subscribe(c, to: exchange) } catch { c.close(); throw error }
                    client = c
                    let back = ContinuousClock.now
                    state.withLock { s in
                        if let lostAt { s.stats.reconnectMilliseconds = max(s.stats.reconnectMilliseconds, ConnectionLoop.milliseconds(back - lostAt)) }
                        s.subscribed = true
                    }
                    lostAt = nil
                } catch {
                    state.withLock { $0.stats.failedConnects += 1; $0.stats.lastFailure = "subscriber: \(error)" }
                    Thread.sleep(forTimeInterval: interval.seconds)
                    continue
                }
            }
            do {
                if let body = try client!.nextDelivery(until: ContinuousClock.now.advanced(by: interval)) { take(body) }
            } catch {
                client?.close()
                client = nil
                lostAt = ContinuousClock.now
                state.withLock { $0.stats.subscriberDisconnects += 1; $0.stats.lastFailure = "subscriber: \(error)" }
            }
        }
        client?.close()
        state.withLock { $0.subscriberDone = true }
    }

    func take(_ body: [UInt8]) {
        let text = String(decoding: body, as: UTF8.self)
        guard text.hasPrefix(run + " "), let n = Int(text.dropFirst(run.count + 1)) else { return }
        let now = ContinuousClock.now
        state.withLock { s in
            guard s.delivered.insert(n).inserted else { return }
            if let last = s.lastDelivery, s.publishingEnded == nil {
                s.stats.longestGapMilliseconds = max(s.stats.longestGapMilliseconds, ConnectionLoop.milliseconds(now - last))
            }
            s.lastDelivery = now
        }
    }

    func publish(_ given: AMQPClient?) {
        var client: AMQPClient?
        // This connection's publishes by delivery tag (from 1), for its confirms.
        var tags: [UInt64: Int] = [:]
        var tag: UInt64 = 0
        func use(_ c: AMQPClient) throws(AMQPProbe.Failure) {
            try c.confirmSelect()
            (client, tags, tag) = (c, [:], 0)
        }
        func takeConfirms() {
            guard let c = client else { return }
            let numbers = c.takeConfirms().compactMap { tags.removeValue(forKey: $0) }
            if !numbers.isEmpty { state.withLock { $0.confirmed.formUnion(numbers) } }
        }
        func lost(_ error: any Error) {
            takeConfirms()
            client?.close()
            client = nil
            state.withLock { $0.stats.publisherDisconnects += 1; $0.stats.lastFailure = "publisher: \(error)" }
        }
        if let given {
            do { try use(given) } catch { given.close(); lost(error) }
        }
        var number = 0
        var next = ContinuousClock.now
        while state.withLock({ $0.publishing }) {
            let now = ContinuousClock.now
            if now < next { Thread.sleep(forTimeInterval: (next - now).seconds) }
            // One message per interval from now: a slow connect does not become a burst afterwards.
            next = ContinuousClock.now.advanced(by: interval)
            // Nothing is sent before a subscriber first consumes: those would be lost to no failure.
            guard state.withLock({ $0.subscribed }) else { continue }
            if client == nil {
                do {
                    let c = try connect("publisher")
                    do throws(AMQPProbe.Failure) { try use(c) } catch { c.close(); throw error }
                } catch {
                    state.withLock { $0.stats.failedConnects += 1; $0.stats.lastFailure = "publisher: \(error)" }
                    continue
                }
            }
            number += 1
            do {
                try client!.publish(Array("\(run) \(number)".utf8), to: exchange)
                tag += 1
                tags[tag] = number
                state.withLock { _ = $0.published.insert(number) }
                takeConfirms()
            } catch {
                lost(error)
            }
        }
        state.withLock { $0.publishingEnded = ContinuousClock.now }
        // The confirms still on their way, for up to a second.
        let end = ContinuousClock.now.advanced(by: .seconds(1))
        while let c = client, !tags.isEmpty, ContinuousClock.now < end {
            do { _ = try c.nextDelivery(until: ContinuousClock.now.advanced(by: .milliseconds(50))) } catch { break }
            takeConfirms()
        }
        client?.close()
        state.withLock { $0.publisherDone = true }
    }
}
