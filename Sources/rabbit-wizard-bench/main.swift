// The executor's own cost, for `make bench`: N runs of /bin/true through the executor (with and without
// the command log) against a bare posix_spawn + waitpid. Prints one JSON object.
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

try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
let logged = Executor(commandLog: try CommandLog(path: dir + "/commands.jsonl"))
let unlogged = Executor(commandLog: nil)
// Warm up each path once (page cache, first spawn).
_ = direct()
_ = await throughExecutor(unlogged)
let d = direct()
let u = await throughExecutor(unlogged)
let l = await throughExecutor(logged)
let out: [String: Any] = [
    "commands": n,
    "direct_s": d, "executor_s": u, "executor_logged_s": l,
    "direct_per_command_ms": d / Double(n) * 1000,
    "overhead_per_command_ms": (u - d) / Double(n) * 1000,
    "log_cost_per_command_ms": (l - u) / Double(n) * 1000,
    "overhead_with_log_per_command_ms": (l - d) / Double(n) * 1000,
]
print(String(decoding: try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys]), as: UTF8.self))
try? FileManager.default.removeItem(atPath: dir)
