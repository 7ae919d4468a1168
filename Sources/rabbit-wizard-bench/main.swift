// The executor's own cost, for `make bench`: N runs of /bin/true through the executor (with and without
// the command log) against a bare posix_spawn + waitpid, and the memory a command with 50 MB of output
// costs (what is kept is bounded; this is what the streaming costs). Prints one JSON object.
import Executor
import Foundation
import Glibc

let n = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 1000
let dir = CommandLine.arguments.dropFirst(2).first ?? NSTemporaryDirectory() + "rabbit-wizard-bench-\(getpid())"

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

/// posix_spawn + waitpid, nothing else: the floor.
func direct() -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    for _ in 0..<n {
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/true"), nil]
        defer { argv.forEach { free($0) } }
        guard posix_spawn(&pid, "/bin/true", nil, nil, argv, environ) == 0 else { fatalError("posix_spawn failed") }
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
    }
    return seconds(clock.now - start)
}

func throughExecutor(_ executor: Executor) async -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    for _ in 0..<n {
        let r = await executor.run(CommandSpec(["/bin/true"], timeout: .seconds(10), mutates: false, step: "bench"))
        guard r.termination == .exited(code: 0) else { fatalError("bench command failed: \(r.termination)") }
    }
    return seconds(clock.now - start)
}

/// Resident and peak memory of this process, KiB.
func memoryKiB() -> (rss: Int, peak: Int) {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    func value(_ key: String) -> Int {
        let line = status.split(separator: "\n").first { $0.hasPrefix(key) } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }
    return (value("VmRSS:"), value("VmHWM:"))
}

/// 50 MB of output in 99-byte lines through the executor with its default limits.
func streamed(_ executor: Executor) async -> (rssGrowthKiB: Int, peakGrowthKiB: Int, seconds: Double) {
    let before = memoryKiB()
    let clock = ContinuousClock()
    let start = clock.now
    let r = await executor.run(CommandSpec(["sh", "-c", "head -c 52428800 /dev/zero | tr '\\0' 'x' | fold -w 99"],
                                           timeout: .seconds(300), mutates: false, step: "bench"))
    guard r.termination == .exited(code: 0) else { fatalError("bench stream command failed: \(r.termination)") }
    let after = memoryKiB()
    return (after.rss - before.rss, after.peak - before.peak, seconds(clock.now - start))
}

try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
let logged = Executor(commandLog: try CommandLog(path: dir + "/commands.jsonl"))
let unlogged = Executor(commandLog: nil)
// Warm up each path once (page cache, first spawn).
_ = direct()
_ = await throughExecutor(unlogged)
let d = direct()
let u = await throughExecutor(unlogged)
let l = await throughExecutor(logged)
let stream = await streamed(logged)
let out: [String: Any] = [
    "stream_50mb_rss_growth_mib": Double(stream.rssGrowthKiB) / 1024, "stream_50mb_peak_growth_mib": Double(stream.peakGrowthKiB) / 1024,
    "stream_50mb_s": stream.seconds,
    "commands": n,
    "direct_s": d, "executor_s": u, "executor_logged_s": l,
    "direct_per_command_ms": d / Double(n) * 1000,
    "overhead_per_command_ms": (u - d) / Double(n) * 1000,
    "log_cost_per_command_ms": (l - u) / Double(n) * 1000,
    "overhead_with_log_per_command_ms": (l - d) / Double(n) * 1000,
]
print(String(decoding: try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys]), as: UTF8.self))
try? FileManager.default.removeItem(atPath: dir)
