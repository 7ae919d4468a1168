import Executor
import Foundation
import Glibc

/// A small AMQP 0-9-1 client over a TCP socket, with timeouts: the proof that a broker (or a load
/// balancer in front of one) really answers, and that a login with a user, password and vhost works.
///
/// Blocking calls on one socket; callers that probe in a loop run it on their own thread.
public struct AMQPProbe: Sendable {
    public var host: String
    public var port: Int
    public var timeout: Duration

    public init(host: String, port: Int, timeout: Duration = .seconds(3)) {
        self.host = host
        self.port = port
        self.timeout = timeout
    }

    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        case refused(String)
        case timedOut(String)
        case notAMQP(String)
        case authenticationRefused(String)
        case vhostRefused(String)
        case closed(code: Int, text: String)

        public var description: String {
            switch self {
            case .refused(let s): "connection refused: \(s)"
            case .timedOut(let s): "timed out: \(s)"
            case .notAMQP(let s): "not AMQP: \(s)"
            case .authenticationRefused(let s): "authentication refused: \(s)"
            case .vhostRefused(let s): "access to the vhost refused: \(s)"
            case .closed(let code, let text): "connection closed by the server: \(code) \(text)"
            }
        }
    }

    /// What Connection.Start told.
    public struct ServerInfo: Sendable, Equatable {
        public var product: String?
        public var version: String?
        public var clusterName: String?
        public var mechanisms: [String]
        /// Seconds from connect to Connection.Start.
        public var handshakeSeconds: Double
    }

    /// Connects, sends the protocol header and reads Connection.Start. Closes without logging in.
    public func hello() throws(Failure) -> ServerInfo {
        let conn = try Connection.open(host: host, port: port, timeout: timeout)
        defer { conn.close() }
        return try conn.start()
    }

    /// `count` connections that each got Connection.Start and then stay open without an answer until
    /// ``HeldHandshakes/close()``: meanwhile the node behind each lists it among its connections, in state
    /// `starting` (RabbitMQ closes it after its `handshake_timeout`, 10 s by default). No login is tried.
    public func holdHandshakes(_ count: Int) -> HeldHandshakes {
        var held: [Connection] = []
        var failures: [Failure] = []
        for _ in 0..<count {
            do throws(Failure) {
                let conn = try Connection.open(host: host, port: port, timeout: timeout)
                do throws(Failure) { _ = try conn.start(); held.append(conn) } catch { conn.close(); throw error }
            } catch { failures.append(error) }
        }
        return HeldHandshakes(held, failures: failures)
    }

    /// Connections kept open in the middle of their handshake (``holdHandshakes(_:)``).
    public final class HeldHandshakes: @unchecked Sendable {
        let connections: [Connection]
        public let failures: [Failure]
        public var count: Int { connections.count }

        init(_ connections: [Connection], failures: [Failure]) {
            self.connections = connections
            self.failures = failures
        }

        public func close() { connections.forEach { $0.close() } }
    }

    /// Logs in with PLAIN and opens `vhost`, then closes cleanly.
    public func login(user: String, password: Secret, vhost: String) throws(Failure) -> ServerInfo {
        let conn = try Connection.open(host: host, port: port, timeout: timeout)
        defer { conn.close() }
        let info = try conn.start()
        try conn.login(user: user, password: password, vhost: vhost)
        return info
    }

    /// One TCP connection speaking AMQP frames. `deadline` bounds the blocking calls: the probe's once,
    /// a long-lived client's (``AMQPClient``) anew for each operation.
    final class Connection {
        let fd: Int32
        var deadline: ContinuousClock.Instant
        let started = ContinuousClock.now
        let endpoint: String

        init(fd: Int32, deadline: ContinuousClock.Instant, endpoint: String) {
            self.fd = fd
            self.deadline = deadline
            self.endpoint = endpoint
        }

        func close() { Glibc.close(fd) }

        static func open(host: String, port: Int, timeout: Duration) throws(Failure) -> Connection {
            let endpoint = "\(host):\(port)"
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var list: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else {
                throw .refused("\(host) does not resolve")
            }
            defer { freeaddrinfo(list) }
            let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), first.pointee.ai_protocol)
            guard fd >= 0 else { throw .refused("\(endpoint): no socket") }
            let deadline = ContinuousClock.now.advanced(by: timeout)
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
            if connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) != 0 && errno != EINPROGRESS {
                let e = errno
                Glibc.close(fd)
                throw .refused("\(endpoint): \(String(cString: strerror(e)))")
            }
            let c = Connection(fd: fd, deadline: deadline, endpoint: endpoint)
            do throws(Failure) { try c.wait(Int16(POLLOUT), "connecting") } catch { Glibc.close(fd); throw error }
            var err: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
            if err != 0 {
                Glibc.close(fd)
                throw .refused("\(endpoint): \(String(cString: strerror(err)))")
            }
            return c
        }

        func wait(_ events: Int16, _ what: String) throws(Failure) {
            while true {
                let left = deadline - ContinuousClock.now
                let ms = Int32(max(0, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
                if ms <= 0 { throw .timedOut("\(endpoint): \(what)") }
                var p = pollfd(fd: fd, events: events, revents: 0)
                let n = poll(&p, 1, ms)
                if n > 0 { return }
                if n < 0 && errno == EINTR { continue }
                if n == 0 { throw .timedOut("\(endpoint): \(what)") }
                throw .refused("\(endpoint): \(String(cString: strerror(errno)))")
            }
        }

        func send(_ bytes: [UInt8]) throws(Failure) {
            var offset = 0
            while offset < bytes.count {
                try wait(Int16(POLLOUT), "sending")
                let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
                if n < 0 {
                    if errno == EAGAIN || errno == EINTR { continue }
                    throw .refused("\(endpoint): \(String(cString: strerror(errno)))")
                }
                offset += n
            }
        }

        func receive(_ count: Int, _ what: String) throws(Failure) -> [UInt8] {
            var out = [UInt8](repeating: 0, count: count)
            var got = 0
            while got < count {
                try wait(Int16(POLLIN), what)
                let n = out.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, count - got, 0) }
                if n == 0 { throw .closed(code: 0, text: "\(endpoint) closed the connection while \(what)") }
                if n < 0 {
                    if errno == EAGAIN || errno == EINTR { continue }
                    throw .refused("\(endpoint): \(String(cString: strerror(errno)))")
                }
                got += n
            }
            return out
        }

        /// Reads one frame: (type, channel, payload).
        func frame(_ what: String) throws(Failure) -> (UInt8, UInt16, [UInt8]) {
            let header = try receive(7, what)
            if header.starts(with: Array("AMQP".utf8)) {
                throw .notAMQP("\(endpoint) answered with a protocol header: it speaks another AMQP version")
            }
            let type = header[0]
            guard (1...8).contains(type) else { throw .notAMQP("\(endpoint) sent bytes that are not an AMQP frame") }
            let channel = UInt16(header[1]) << 8 | UInt16(header[2])
            let size = Int(header[3]) << 24 | Int(header[4]) << 16 | Int(header[5]) << 8 | Int(header[6])
            guard size < 1 << 20 else { throw .notAMQP("\(endpoint) sent a frame of \(size) bytes") }
            let payload = try receive(size + 1, what)
            guard payload.last == 0xCE else { throw .notAMQP("\(endpoint) sent a frame without the frame end byte") }
            return (type, channel, Array(payload.dropLast()))
        }

        /// Reads a method frame and returns (class, method, arguments); Connection.Close and Channel.Close
        /// become failures. `onFrame` sees every frame read (a client's heartbeat bookkeeping).
        func method(_ what: String, onFrame: () -> Void = {}) throws(Failure) -> (UInt16, UInt16, [UInt8]) {
            while true {
                let (type, _, payload) = try frame(what)
                onFrame()
                if type == 8 { continue }  // heartbeat
                guard type == 1, payload.count >= 4 else { throw .notAMQP("\(endpoint): expected a method frame while \(what)") }
                let (cls, mth, args) = Self.split(payload)
                try Self.refuseClose(cls, mth, args)
                return (cls, mth, args)
            }
        }

        /// A method frame's payload as (class, method, arguments).
        static func split(_ payload: [UInt8]) -> (UInt16, UInt16, [UInt8]) {
            (UInt16(payload[0]) << 8 | UInt16(payload[1]), UInt16(payload[2]) << 8 | UInt16(payload[3]), Array(payload[4...]))
        }

        /// Connection.Close (10.50) or Channel.Close (20.40) from the server, as the failure it names.
        static func refuseClose(_ cls: UInt16, _ mth: UInt16, _ args: [UInt8]) throws(Failure) {
            guard (cls == 10 && mth == 50) || (cls == 20 && mth == 40) else { return }
            var r = Reader(args)
            let code = Int(r.u16())
            let text = r.shortString()
            if code == 403 { throw .authenticationRefused(text) }
            if code == 530 && cls == 10 { throw .vhostRefused(text) }
            throw .closed(code: code, text: text)
        }

        func sendMethod(_ cls: UInt16, _ mth: UInt16, _ args: [UInt8], channel: UInt16 = 0) throws(Failure) {
            try send(Self.methodFrame(cls, mth, args, channel: channel))
        }

        static func methodFrame(_ cls: UInt16, _ mth: UInt16, _ args: [UInt8], channel: UInt16) -> [UInt8] {
            frame(type: 1, channel: channel, [UInt8(cls >> 8), UInt8(cls & 0xFF), UInt8(mth >> 8), UInt8(mth & 0xFF)] + args)
        }

        /// One frame: type, channel, size, payload, the frame end byte.
        static func frame(type: UInt8, channel: UInt16, _ payload: [UInt8]) -> [UInt8] {
            let size = UInt32(payload.count)
            return [type, UInt8(channel >> 8), UInt8(channel & 0xFF), UInt8(size >> 24), UInt8(size >> 16 & 0xFF), UInt8(size >> 8 & 0xFF),
                    UInt8(size & 0xFF)] + payload + [0xCE]
        }

        func start() throws(Failure) -> ServerInfo {
            try send(Array("AMQP".utf8) + [0, 0, 9, 1])
            let (cls, mth, args) = try method("waiting for Connection.Start")
            guard cls == 10, mth == 10 else { throw .notAMQP("\(endpoint): expected Connection.Start, got \(cls).\(mth)") }
            var r = Reader(args)
            _ = r.u8(); _ = r.u8()
            let props = r.table()
            let mechanisms = r.longString().split(separator: " ").map(String.init)
            let elapsed = ContinuousClock.now - started
            return ServerInfo(product: props["product"], version: props["version"], clusterName: props["cluster_name"], mechanisms: mechanisms,
                              handshakeSeconds: elapsed.seconds)
        }

        /// Logs in, opens `vhost` and closes again.
        func login(user: String, password: Secret, vhost: String) throws(Failure) {
            _ = try open(user: user, password: password, vhost: vhost)
            var close = Writer()
            close.u16(200); close.shortString("bye"); close.u16(0); close.u16(0)
            try? sendMethod(10, 50, close.bytes)
            _ = try? method("closing")
        }

        /// Logs in with PLAIN, agrees the heartbeat (seconds; 0: none) and opens `vhost`; `name` is the
        /// connection name the server lists. Returns the heartbeat agreed: the smaller non-zero of the two.
        func open(user: String, password: Secret, vhost: String, heartbeat: UInt16 = 0, name: String? = nil) throws(Failure) -> UInt16 {
            var w = Writer()
            // client-properties: ask for a Connection.Close on a failed login instead of a silent close.
            var properties: [String: Field] = ["product": .string("rabbit-wizard"), "capabilities": .table(["authentication_failure_close": .bool(true)])]
            if let name { properties["connection_name"] = .string(name) }
            w.table(properties)
            w.shortString("PLAIN")
            w.longBytes([0] + Array(user.utf8) + [0] + password.withBytes { $0 })
            w.shortString("en_US")
            try sendMethod(10, 11, w.bytes)
            let (cls, mth, args) = try method("logging in")
            guard cls == 10, mth == 30 else { throw .notAMQP("\(endpoint): expected Connection.Tune, got \(cls).\(mth)") }
            var tune = Reader(args)
            let channelMax = tune.u16(), frameMax = tune.u32(), offered = tune.u16()
            let agreed = offered == 0 || heartbeat == 0 ? max(offered, heartbeat) : min(offered, heartbeat)
            var ok = Writer()
            ok.u16(channelMax); ok.u32(frameMax); ok.u16(agreed)
            try sendMethod(10, 31, ok.bytes)
            var open = Writer()
            open.shortString(vhost); open.shortString(""); open.u8(0)
            try sendMethod(10, 40, open.bytes)
            let (c2, m2, _) = try method("opening the vhost")
            guard c2 == 10, m2 == 41 else { throw .notAMQP("\(endpoint): expected Connection.Open-Ok, got \(c2).\(m2)") }
            return agreed
        }
    }

    /// Big-endian AMQP argument decoding; a short read yields empty values rather than trapping.
    struct Reader {
        let b: [UInt8]
        var i = 0
        init(_ b: [UInt8]) { self.b = b }
        mutating func u8() -> UInt8 { guard i < b.count else { return 0 }; defer { i += 1 }; return b[i] }
        mutating func u16() -> UInt16 { UInt16(u8()) << 8 | UInt16(u8()) }
        mutating func u32() -> UInt32 { UInt32(u16()) << 16 | UInt32(u16()) }
        mutating func u64() -> UInt64 { UInt64(u32()) << 32 | UInt64(u32()) }
        mutating func bytes(_ n: Int) -> [UInt8] {
            let end = min(b.count, i + max(0, n)); defer { i = end }; return Array(b[min(i, end)..<end])
        }
        mutating func shortString() -> String { String(decoding: bytes(Int(u8())), as: UTF8.self) }
        mutating func longString() -> String { String(decoding: bytes(Int(u32())), as: UTF8.self) }
        /// A field table; string values kept, others skipped by their size.
        mutating func table() -> [String: String] {
            let size = Int(u32())
            let end = min(b.count, i + size)
            var out: [String: String] = [:]
            while i < end {
                let key = shortString()
                let type = u8()
                switch type {
                case UInt8(ascii: "S"): out[key] = longString()
                case UInt8(ascii: "s"): out[key] = shortString()
                case UInt8(ascii: "F"): _ = table()
                case UInt8(ascii: "t"), UInt8(ascii: "b"), UInt8(ascii: "B"): _ = u8()
                case UInt8(ascii: "u"), UInt8(ascii: "U"): _ = u16()
                case UInt8(ascii: "i"), UInt8(ascii: "I"), UInt8(ascii: "f"): _ = u32()
                case UInt8(ascii: "l"), UInt8(ascii: "L"), UInt8(ascii: "d"), UInt8(ascii: "T"): _ = bytes(8)
                case UInt8(ascii: "D"): _ = bytes(5)
                case UInt8(ascii: "A"): _ = bytes(Int(u32()))
                case UInt8(ascii: "x"): _ = bytes(Int(u32()))
                default: i = end
                }
            }
            i = end
            return out
        }
    }

    enum Field { case string(String), bool(Bool), table([String: Field]) }

    struct Writer {
        var bytes: [UInt8] = []
        mutating func u8(_ v: UInt8) { bytes.append(v) }
        mutating func u16(_ v: UInt16) { bytes += [UInt8(v >> 8), UInt8(v & 0xFF)] }
        mutating func u32(_ v: UInt32) { bytes += [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        mutating func u64(_ v: UInt64) { u32(UInt32(v >> 32)); u32(UInt32(v & 0xFFFF_FFFF)) }
        mutating func shortString(_ s: String) { let u = Array(s.utf8.prefix(255)); u8(UInt8(u.count)); bytes += u }
        mutating func longBytes(_ b: [UInt8]) { u32(UInt32(b.count)); bytes += b }
        mutating func table(_ t: [String: Field]) {
            var inner = Writer()
            for (k, v) in t.sorted(by: { $0.key < $1.key }) {
                inner.shortString(k)
                switch v {
                case .string(let s): inner.u8(UInt8(ascii: "S")); inner.longBytes(Array(s.utf8))
                case .bool(let b): inner.u8(UInt8(ascii: "t")); inner.u8(b ? 1 : 0)
                case .table(let t): inner.u8(UInt8(ascii: "F")); inner.table(t)
                }
            }
            longBytes(inner.bytes)
        }
    }
}
