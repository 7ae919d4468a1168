import Executor
import Foundation
import Glibc

/// A long-lived AMQP 0-9-1 connection with one channel, doing what an OutSystems cache invalidation client
/// does: a fanout exchange, an exclusive auto-delete queue bound to it, `basic.publish`, `basic.consume` and
/// its deliveries, heartbeats both ways. Reconnecting is the caller's (``MessagePath``): a new client
/// declares everything again, as a real client must (an exclusive queue dies with its connection).
///
/// Blocking calls; one thread uses a client at a time. Every call is bounded by `timeout`, and a server
/// silent for two heartbeats is a failure (`timedOut`), as RabbitMQ's own clients count it.
public final class AMQPClient: @unchecked Sendable {
    let conn: AMQPProbe.Connection
    /// The heartbeat both sides agreed, in seconds (0: none).
    public let heartbeat: Int
    let timeout: Duration
    var lastSent = ContinuousClock.now
    var lastReceived = ContinuousClock.now

    static let channel: UInt16 = 1
    /// Publisher confirms: the delivery tags the broker has acknowledged since ``takeConfirms()`` last
    /// took them (tags count this connection's publishes from 1, once ``confirmSelect()`` is on).
    var confirmed: [UInt64] = []
    var confirmedThrough: UInt64 = 0

    init(conn: AMQPProbe.Connection, heartbeat: Int, timeout: Duration) {
        self.conn = conn
        self.heartbeat = heartbeat
        self.timeout = timeout
    }

    /// Connects, logs in with PLAIN, opens `vhost` and channel 1. `name` is the connection name the
    /// server lists (`connection_name`); `heartbeat` the seconds asked for (the server may agree fewer).
    public static func connect(host: String, port: Int, user: String, password: Secret, vhost: String, heartbeat: Int, name: String,
                               timeout: Duration = .seconds(3)) throws(AMQPProbe.Failure) -> AMQPClient
    {
        let conn = try AMQPProbe.Connection.open(host: host, port: port, timeout: timeout)
        do throws(AMQPProbe.Failure) {
            _ = try conn.start()
            let agreed = try conn.open(user: user, password: password, vhost: vhost, heartbeat: UInt16(clamping: heartbeat), name: name)
            let client = AMQPClient(conn: conn, heartbeat: Int(agreed), timeout: timeout)
            var open = AMQPProbe.Writer()
            open.shortString("")
            _ = try client.call(20, 10, open.bytes, expect: (20, 11), "opening a channel")
            return client
        } catch {
            conn.close()
            throw error
        }
    }

    /// Closes the socket (no Connection.Close: a client cut off in a failure does not get to say goodbye,
    /// and a drill's clients end the same way whatever happened).
    public func close() { conn.close() }

    /// Declares a fanout exchange (not durable, not auto-deleted: several clients come and go).
    public func declareFanout(_ name: String) throws(AMQPProbe.Failure) {
        var w = AMQPProbe.Writer()
        w.u16(0); w.shortString(name); w.shortString("fanout"); w.u8(0); w.table([:])
        _ = try call(40, 10, w.bytes, expect: (40, 11), "declaring the exchange \(name)")
    }

    /// Declares a server-named exclusive auto-delete queue, bound to `exchange`; returns its name.
    public func declareExclusiveQueue(boundTo exchange: String) throws(AMQPProbe.Failure) -> String {
        var q = AMQPProbe.Writer()
        // bits: passive 1, durable 2, exclusive 4, auto-delete 8, no-wait 16.
        q.u16(0); q.shortString(""); q.u8(4 | 8); q.table([:])
        var ok = AMQPProbe.Reader(try call(50, 10, q.bytes, expect: (50, 11), "declaring a queue"))
        let name = ok.shortString()
        var b = AMQPProbe.Writer()
        b.u16(0); b.shortString(name); b.shortString(exchange); b.shortString(""); b.u8(0); b.table([:])
        _ = try call(50, 20, b.bytes, expect: (50, 21), "binding the queue to \(exchange)")
        return name
    }

    /// `basic.consume` without acknowledgements (a cache invalidation is not worth a redelivery).
    public func consume(_ queue: String) throws(AMQPProbe.Failure) {
        var w = AMQPProbe.Writer()
        // bits: no-local 1, no-ack 2, exclusive 4, no-wait 8.
        w.u16(0); w.shortString(queue); w.shortString(""); w.u8(2); w.table([:])
        _ = try call(60, 20, w.bytes, expect: (60, 21), "consuming from \(queue)")
    }

    /// `confirm.select`: the broker acknowledges each publish once it has taken it (``takeConfirms()``).
    public func confirmSelect() throws(AMQPProbe.Failure) {
        _ = try call(85, 10, [0], expect: (85, 11), "asking for publisher confirms")
    }

    /// The delivery tags acknowledged since the last call (read by ``service()`` and ``publish(_:to:routingKey:)``).
    public func takeConfirms() -> [UInt64] {
        defer { confirmed = [] }
        return confirmed
    }

    /// `basic.publish` of `body` to `exchange`, without properties: the method, header and body frames in
    /// one write. Frames the server sent meanwhile are read first (a Connection.Close is a failure here).
    public func publish(_ body: [UInt8], to exchange: String, routingKey: String = "") throws(AMQPProbe.Failure) {
        try service()
        var m = AMQPProbe.Writer()
        m.u16(0); m.shortString(exchange); m.shortString(routingKey); m.u8(0)
        var header = AMQPProbe.Writer()
        header.u16(60); header.u16(0); header.u64(UInt64(body.count)); header.u16(0)
        var out = AMQPProbe.Connection.methodFrame(60, 40, m.bytes, channel: Self.channel)
        out += AMQPProbe.Connection.frame(type: 2, channel: Self.channel, header.bytes)
        if !body.isEmpty { out += AMQPProbe.Connection.frame(type: 3, channel: Self.channel, body) }
        try send(out)
    }

    /// The next delivery's body, waiting at most until `until`; nil when none came by then. Heartbeats are
    /// sent while waiting, and a server silent for two heartbeats is a failure.
    public func nextDelivery(until: ContinuousClock.Instant) throws(AMQPProbe.Failure) -> [UInt8]? {
        while true {
            try keepAlive()
            let now = ContinuousClock.now
            if now >= until { return nil }
            let step = min(until - now, heartbeat > 0 ? .milliseconds(heartbeat * 250) : .seconds(1))
            guard try readable(within: step) else { continue }
            if let d = try readFrame() { return d }
        }
    }

    /// Reads whatever the server has sent, without waiting; sends a heartbeat when one is due.
    public func service() throws(AMQPProbe.Failure) {
        try keepAlive()
        while try readable(within: .zero) {
            // A delivery to a publisher-only client cannot happen (it consumes nothing); anything else is handled.
            _ = try readFrame()
        }
    }

    // MARK: Frames

    func keepAlive() throws(AMQPProbe.Failure) {
        guard heartbeat > 0 else { return }
        let now = ContinuousClock.now
        if now - lastReceived > .seconds(heartbeat * 2) {
            throw .timedOut("\(conn.endpoint): nothing from the server for \(heartbeat * 2) s (two heartbeats)")
        }
        if now - lastSent >= .milliseconds(heartbeat * 500) { try send(AMQPProbe.Connection.frame(type: 8, channel: 0, [])) }
    }

    func send(_ bytes: [UInt8]) throws(AMQPProbe.Failure) {
        conn.deadline = ContinuousClock.now.advanced(by: timeout)
        try conn.send(bytes)
        lastSent = ContinuousClock.now
    }

    /// Whether a frame's first bytes are there within `wait` (a closed or reset socket is readable too:
    /// the read that follows says which).
    func readable(within wait: Duration) throws(AMQPProbe.Failure) -> Bool {
        var p = pollfd(fd: conn.fd, events: Int16(POLLIN), revents: 0)
        let n = poll(&p, 1, Int32(max(0, ConnectionLoop.milliseconds(wait))))
        if n < 0 && errno != EINTR { throw .refused("\(conn.endpoint): \(String(cString: strerror(errno)))") }
        return n > 0
    }

    /// Reads one frame (its rest bounded by `timeout`) and handles it: heartbeats and server notices are
    /// taken, a delivery's body is returned whole, a close is a failure.
    func readFrame() throws(AMQPProbe.Failure) -> [UInt8]? {
        conn.deadline = ContinuousClock.now.advanced(by: timeout)
        let (type, _, payload) = try conn.frame("reading from the server")
        lastReceived = ContinuousClock.now
        guard type == 1, payload.count >= 4 else { return nil }  // a heartbeat, or content of nothing we wait for
        let (cls, mth, args) = AMQPProbe.Connection.split(payload)
        if cls == 10 && mth == 50 {
            try? send(AMQPProbe.Connection.methodFrame(10, 51, [], channel: 0))
        }
        try AMQPProbe.Connection.refuseClose(cls, mth, args)
        if cls == 60 && mth == 80 {
            // Basic.Ack: one tag, or (multiple) every tag up to it.
            var r = AMQPProbe.Reader(args)
            let tag = r.u64(), multiple = r.u8() & 1 == 1
            if !multiple {
                confirmed.append(tag)
            } else if tag > confirmedThrough {
                confirmed += Array((confirmedThrough + 1)...tag)
                confirmedThrough = tag
            }
            return nil
        }
        // Basic.Deliver is followed by its content; Connection.Blocked, Basic.Nack and the like count for nothing here.
        guard cls == 60 && mth == 60 else { return nil }
        let (htype, _, header) = try conn.frame("reading a delivery's header")
        guard htype == 2 else { throw .notAMQP("\(conn.endpoint): a delivery without its content header") }
        var h = AMQPProbe.Reader(header)
        _ = h.u16(); _ = h.u16()
        let size = Int(h.u64())
        var body: [UInt8] = []
        while body.count < size {
            let (btype, _, part) = try conn.frame("reading a delivery's body")
            guard btype == 3 else { throw .notAMQP("\(conn.endpoint): a delivery's body cut short") }
            body += part
        }
        lastReceived = ContinuousClock.now
        return body
    }

    /// Sends a method on the channel and reads until its answer, taking deliveries that arrive meanwhile as
    /// lost to the caller (none arrive before `consume`, the last call that waits).
    func call(_ cls: UInt16, _ mth: UInt16, _ args: [UInt8], expect: (UInt16, UInt16), _ what: String) throws(AMQPProbe.Failure) -> [UInt8] {
        try send(AMQPProbe.Connection.methodFrame(cls, mth, args, channel: Self.channel))
        conn.deadline = ContinuousClock.now.advanced(by: timeout)
        let (c, m, answer) = try conn.method(what) { lastReceived = ContinuousClock.now }
        guard c == expect.0, m == expect.1 else { throw .notAMQP("\(conn.endpoint): expected \(expect.0).\(expect.1) while \(what), got \(c).\(m)") }
        return answer
    }
}
