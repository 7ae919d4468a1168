import Foundation
import Glibc

/// A test's own client script (pika: `scripts/steady_client.py`, `scripts/drill_witness.py`) in the background:
/// started with its output in a file, ready once it writes `STOP_FILE.ready`, stopped by writing `STOP_FILE`,
/// and read from its last output line. Bounded: the scripts stop by themselves after the time they are given.
public struct BackgroundScript: Sendable {
    public let pid: Int32
    let stopFile: String
    let output: String

    /// Starts `argv` (run through `launcher`, with `environment`) and returns once it is ready; `what` names it in failures.
    public static func start(_ argv: [String], what: String, stopFile stop: String, output out: String, ready: Duration = .seconds(30),
                             launcher: [String] = [], environment: [String: String] = [:]) async throws -> BackgroundScript
    {
        unlink(stop)
        unlink(stop + ".ready")
        let started = await Support.run(["sh", "-c", "\"$@\" > \"$0\" 2>&1 & echo $!", out] + launcher + argv, environment: environment)
        guard let pid = Int32(started.stdout.text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw Support.SetupFailure(description: "\(what) did not start: \(started.stdout.text)\(started.stderr.text)")
        }
        guard await Support.waitUntil(ready, { FileManager.default.fileExists(atPath: stop + ".ready") }) else {
            kill(pid, SIGKILL)
            throw Support.SetupFailure(description: "\(what) was not ready within \(ready): \(Support.read(out))")
        }
        return BackgroundScript(pid: pid, stopFile: stop, output: out)
    }

    /// Stops the script (killed if it is not gone within 30 s) and returns its last output line and all of its output.
    public func stop() async -> (last: String, output: String) {
        Support.write("", to: stopFile)
        if !(await Support.waitUntil(.seconds(30)) { Support.hasEnded(pid) }) { kill(pid, SIGKILL) }
        let text = Support.read(output)
        return (text.split(separator: "\n").last.map(String.init) ?? "", text)
    }

    /// `scripts/NAME` in this repository.
    public static func script(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/" + name).path
    }
}
