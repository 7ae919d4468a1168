import Foundation
import Glibc
import Executor

/// Small helpers shared by the test targets. Commands are run through `LocalTransport` (tested on
/// its own in LocalTransportTests) so the helpers need no second process API.
public enum Support {
    /// A fresh folder under /tmp, removed by `cleanup`.
    public static func temporaryDirectory(_ label: String = "rw") -> String {
        var template = Array("/tmp/\(label)-XXXXXX".utf8CString)
        let path = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        return String(cString: path!)
    }

    public static func remove(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

    public static func run(_ argv: [String], stdin: CommandSpec.Input = .none, timeout: Duration = .seconds(30),
                    environment: [String: String] = [:]) async -> TransportOutcome
    {
        await LocalTransport().run(CommandSpec(argv, stdin: stdin, environment: environment, timeout: timeout, mutates: true),
                                   limits: OutputLimits(), redactor: Redactor(secrets: [])) { _, _ in }
    }

    /// The built `rabbit-wizard` next to the test bundle.
    public static var productBinary: String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        var dir = bundle
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("rabbit-wizard").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return bundle.appendingPathComponent("rabbit-wizard").path
    }

    public static func write(_ text: String, to path: String, mode: mode_t = 0o600) {
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: Int(mode)])
    }

    public static func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    /// Polls `condition` (it may ask a node, say) every `every` until it holds or `limit` passes.
    public static func waitUntil(_ limit: Duration = .seconds(10), every: Duration = .milliseconds(20), _ condition: () async -> Bool) async -> Bool {
        let end = ContinuousClock.now.advanced(by: limit)
        while ContinuousClock.now < end {
            if await condition() { return true }
            try? await Task.sleep(for: every)
        }
        return await condition()
    }

    /// The argv of a running process (from `/proc/PID/cmdline`, read to its end: procfs reports size 0).
    /// A 64 KiB tmpfs at ROOT/small: a disk with almost no room (needs root, as in CI). The caller
    /// unmounts it (`umount2(path, 0)`).
    public static func smallDisk(in root: String) async throws -> String {
        let path = root + "/small"
        mkdir(path, 0o755)
        let mounted = await run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", path])
        guard mounted.termination == .exited(code: 0) else { throw SetupFailure(description: "needs root to mount a tmpfs: \(mounted.stderr.text)") }
        return path
    }

    public struct SetupFailure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Plain read(2): the process may end between open and read (ESRCH), which FileHandle turns into a crash.
    public static func commandLine(_ pid: Int32) -> [String]? {
        let fd = open("/proc/\(pid)/cmdline", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 { return nil }
            if n == 0 { break }
            bytes += buffer[..<n]
        }
        return bytes.split(separator: 0, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) }
    }

    /// Fields 3.. of `/proc/PID/stat` (after the command name, which may hold spaces and parentheses):
    /// [0] state, [1] parent, [2] process group. nil when there is no such process.
    static func statFields(_ pid: Int32) -> [Substring]? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ")
    }

    /// The process group of a running process, nil when it is gone.
    public static func processGroup(_ pid: Int32) -> Int32? {
        statFields(pid).flatMap { $0.count > 2 ? Int32($0[2]) : nil }
    }

    /// Pids of processes running now.
    public static func processes() -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init)
    }

    /// Whether the process has ended: gone, or a zombie nobody has reaped yet (this machine's pid 1 does
    /// not reap orphans).
    public static func hasEnded(_ pid: Int32) -> Bool { statFields(pid).map { $0.first == "Z" } ?? true }

    /// Pids of live processes whose parent is `parent`.
    public static func children(of parent: Int32) -> [Int32] {
        processes().filter { pid in statFields(pid).map { $0.count > 1 && $0[0] != "Z" && Int32($0[1]) == parent } ?? false }
    }

    /// Pids of live processes whose process group is `pgid` (a zombie is already gone for our purpose).
    public static func members(ofProcessGroup pgid: Int32) -> [Int32] {
        processes().filter { pid in statFields(pid).map { $0.count > 2 && $0[0] != "Z" && Int32($0[2]) == pgid } ?? false }
    }

    /// A free TCP port on 127.0.0.1 (bound, read back, released).
    public static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    public static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    public static var userName: String { String(cString: getpwuid(geteuid())!.pointee.pw_name) }

    /// Runs `argv` under `strace -f -e trace=execve -v` (every process it starts, with argv and environment,
    /// written to `trace`). Daemons it starts stay traced after it exits, so strace would never end by
    /// itself: once `argv` has exited, strace is interrupted (it detaches) by the PID it was given.
    public static func traced(_ argv: [String], trace: String, timeout: Duration = .seconds(600)) async -> (code: Int32?, stdout: String, stderr: String) {
        let dir = temporaryDirectory("rw-trace")
        defer { remove(dir) }
        let start = await run(
            ["sh", "-c", "d=$1; shift; strace -f -qq -e trace=execve -v -s 4096 -o \"$0\" -- sh -c '\"$@\" >\"$0/out\" 2>\"$0/err\"; echo $? >\"$0/rc\"' \"$d\" \"$@\" </dev/null >/dev/null 2>&1 & echo $!",
             trace, dir] + argv)
        let tracer = Int32(start.stdout.text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        _ = await waitUntil(timeout) { FileManager.default.fileExists(atPath: dir + "/rc") && !read(dir + "/rc").isEmpty }
        if tracer > 0 {
            kill(tracer, SIGINT)
            _ = await waitUntil(.seconds(10)) { kill(tracer, 0) != 0 }
        }
        return (Int32(read(dir + "/rc").trimmingCharacters(in: .whitespacesAndNewlines)), read(dir + "/out"), read(dir + "/err"))
    }

    /// A canary: a value that must never show up anywhere it could leak.
    public static func canary() -> String { "CANARY-\(UUID().uuidString.prefix(12))-COOKIE" }

    /// Whether `text` holds something and not `secret`: a look for a canary in an empty log (one that was
    /// never written, or not where the test thought) would pass without having looked at anything.
    public static func lacks(_ text: String, _ secret: String) -> Bool { !text.isEmpty && !text.contains(secret) }
}
