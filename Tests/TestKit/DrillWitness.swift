import Foundation
import Glibc

/// `scripts/drill_witness.py` (pika, an AMQP client independent of the product) in the background: one
/// subscriber straight to each node, bound to the failover drill's exchange in the drill's vhost, counting
/// what reached the broker. Bounded: it stops by itself after `limit` seconds.
public struct DrillWitness: Sendable {
    let script: BackgroundScript

    /// What reached the broker for one failed node (a run of the drill's publisher).
    public struct Run: Sendable, Decodable {
        public var run: String
        public var received: Int
    }

    /// Starts the witness and returns once every subscriber consumes. `endpoints`: `HOST:PORT` of each node.
    public static func start(endpoints: [String], vhost: String = "rabbit-wizard-drill", exchange: String = "rabbit-wizard.drill", in dir: String,
                             limit seconds: Int = 600, launcher: [String] = [], environment: [String: String] = [:]) async throws -> DrillWitness
    {
        let stop = dir + "/witness.stop"
        return DrillWitness(script: try await BackgroundScript.start(
            ["python3", BackgroundScript.script("drill_witness.py"), stop, String(seconds), vhost, exchange] + endpoints,
            what: "the drill witness (a subscriber consuming on every node)", stopFile: stop, output: dir + "/witness.out",
            launcher: launcher, environment: environment))
    }

    /// Stops the witness and returns its runs in the order it first saw them (nil, with its output, when it printed none).
    public func stop() async -> (runs: [Run]?, output: String) {
        let (last, text) = await script.stop()
        return (try? JSONDecoder().decode([Run].self, from: Data(last.utf8)), text)
    }
}

/// One node's row of the failover drill's table, as the product prints it.
public struct DrillRow: Sendable, Equatable, CustomStringConvertible {
    public var node: String
    public var connections: Int
    public var failed: Int
    public var slowestMilliseconds: Int
    public var sent: Int
    public var acked: Int
    public var lost: Int
    public var gapSeconds: Double
    /// nil: the subscriber never lost its connection ("-").
    public var reconnectSeconds: Double?
    /// nil: not back ("no").
    public var backSeconds: Double?

    public init(node: String, connections: Int, failed: Int, slowestMilliseconds: Int, sent: Int, acked: Int, lost: Int, gapSeconds: Double,
                reconnectSeconds: Double?, backSeconds: Double?)
    {
        (self.node, self.connections, self.failed, self.slowestMilliseconds) = (node, connections, failed, slowestMilliseconds)
        (self.sent, self.acked, self.lost, self.gapSeconds) = (sent, acked, lost, gapSeconds)
        (self.reconnectSeconds, self.backSeconds) = (reconnectSeconds, backSeconds)
    }

    public var description: String {
        "\(node): conns \(connections), failed \(failed), slowest \(slowestMilliseconds) ms, sent \(sent), acked \(acked), lost \(lost), gap \(gapSeconds) s, "
            + "reconnect \(reconnectSeconds.map { "\($0) s" } ?? "-"), back \(backSeconds.map { "\($0) s" } ?? "no")"
    }

    /// The rows of the table in `text` (a node name with `@`, then the columns); empty when there is none.
    public static func parse(_ text: String) -> [DrillRow] {
        text.split(separator: "\n").compactMap { line -> DrillRow? in
            // node conns failed N ms sent acked lost G s (R s | -) (B s | no)
            let w = line.split(separator: " ").map(String.init)
            guard w.first?.contains("@") == true, !w[0].hasSuffix(":"), w.count >= 11, w[4] == "ms" else { return nil }
            var i = 8
            guard let conns = Int(w[1]), let failed = Int(w[2]), let slowest = Int(w[3]), let sent = Int(w[5]), let acked = Int(w[6]),
                  let lost = Int(w[7]), let gap = Double(w[i]), w[i + 1] == "s" else { return nil }
            i += 2
            var reconnect: Double?
            if w[i] == "-" { i += 1 } else if let r = Double(w[i]), i + 1 < w.count, w[i + 1] == "s" { reconnect = r; i += 2 } else { return nil }
            guard i < w.count else { return nil }
            let back = w[i] == "no" ? nil : Double(w[i])
            return DrillRow(node: w[0], connections: conns, failed: failed, slowestMilliseconds: slowest, sent: sent, acked: acked, lost: lost, gapSeconds: gap,
                            reconnectSeconds: reconnect, backSeconds: back)
        }
    }
}
