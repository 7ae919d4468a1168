import Foundation
import Glibc

/// `scripts/steady_client.py` (pika, an AMQP client independent of the product) in the background, connected
/// to one AMQP port: it publishes and reads back a message every 100 ms until it is stopped, and counts what
/// it lost. Bounded: it stops by itself after `limit` seconds.
public struct SteadyClient: Sendable {
    let script: BackgroundScript
    public var pid: Int32 { script.pid }

    /// What the client counted.
    public struct Counts: Sendable, Decodable, CustomStringConvertible {
        public var published: Int
        public var delivered: Int
        public var lost: Int
        public var disconnects: Int
        public var failed_connects: Int
        public var seconds: Double

        public var description: String {
            "published \(published), delivered \(delivered), lost \(lost), disconnects \(disconnects), failed connects \(failed_connects), \(seconds) s"
        }
    }

    /// Starts the client and returns once its first message has made the round trip. `launcher` runs it
    /// elsewhere (inside a bed's host, with its `environment`), where `host` is the AMQP address as seen there.
    public static func start(port: Int, in dir: String, limit seconds: Int = 900, host: String = "127.0.0.1",
                             launcher: [String] = [], environment: [String: String] = [:]) async throws -> SteadyClient
    {
        let stop = dir + "/steady-\(port).stop"
        return SteadyClient(script: try await BackgroundScript.start(
            ["python3", BackgroundScript.script("steady_client.py"), host, String(port), stop, String(seconds)],
            what: "the steady client (a round trip through \(host):\(port))", stopFile: stop, output: dir + "/steady-\(port).out",
            launcher: launcher, environment: environment))
    }

    /// Stops the client and returns its counts (nil, with its output, when it printed none).
    public func stop() async -> (counts: Counts?, output: String) {
        let (last, text) = await script.stop()
        return (try? JSONDecoder().decode(Counts.self, from: Data(last.utf8)), text)
    }
}
