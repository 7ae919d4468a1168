import Foundation
import Glibc

/// `scripts/steady_client.py` (pika, an AMQP client independent of the product) in the background, connected
/// to one AMQP port: it publishes and reads back a message every 100 ms until it is stopped, and counts what
/// it lost. Bounded: it stops by itself after `limit` seconds.
public struct SteadyClient: Sendable {
    public let pid: Int32
    let stopFile: String
    let output: String

    public static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/steady_client.py").path

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
        let stop = dir + "/steady-\(port).stop", out = dir + "/steady-\(port).out"
        unlink(stop)
        unlink(stop + ".ready")
        let started = await Support.run(["sh", "-c", "\"$@\" > \"$0\" 2>&1 & echo $!", out] + launcher + ["python3", script, host, String(port), stop, String(seconds)],
                                        environment: environment)
        guard let pid = Int32(started.stdout.text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw Support.SetupFailure(description: "the steady client did not start: \(started.stdout.text)\(started.stderr.text)")
        }
        let client = SteadyClient(pid: pid, stopFile: stop, output: out)
        guard await Support.waitUntil(.seconds(30), { FileManager.default.fileExists(atPath: stop + ".ready") }) else {
            kill(pid, SIGKILL)
            throw Support.SetupFailure(description: "the steady client made no round trip through \(host):\(port) within 30 s: \(Support.read(out))")
        }
        return client
    }

    /// Stops the client and returns its counts (nil, with its output, when it printed none).
    public func stop() async -> (counts: Counts?, output: String) {
        Support.write("", to: stopFile)
        if !(await Support.waitUntil(.seconds(30)) { Support.hasEnded(pid) }) { kill(pid, SIGKILL) }
        let text = Support.read(output)
        let last = text.split(separator: "\n").last.map(String.init) ?? ""
        return (try? JSONDecoder().decode(Counts.self, from: Data(last.utf8)), text)
    }
}
