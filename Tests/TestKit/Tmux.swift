import Executor
import Foundation
import Glibc
import Synchronization

/// A private tmux server running the product in one pane, for end-to-end tests of the wizard screen:
/// keys go in with `send-keys`, the screen comes out with `capture-pane`. The product runs inside a small
/// shell that records `stty -a` before and after it and its exit status, then keeps the pane open.
/// Every capture is kept, so a test can check that a secret never appeared on screen.
public final class Tmux: Sendable {
    public let dir: String
    var socket: String { dir + "/tmux.sock" }
    let serverPID: Int32
    let environment: [String: String]
    private let seen = Mutex<[String]>([])

    /// Starts the server with `argv` (the product and its arguments) in a `cols` x `rows` pane.
    public init(_ argv: [String], cols: Int = 80, rows: Int = 24, environment: [String: String] = [:]) async throws {
        dir = Support.temporaryDirectory("rw-tmux")
        let env = ["TERM": "tmux-256color", "LANG": "C.UTF-8"].merging(environment) { $1 }
        self.environment = env
        let args = ["tmux", "-S", dir + "/tmux.sock", "-f", "/dev/null", "new-session", "-d", "-x", "\(cols)", "-y", "\(rows)",
                    Tmux.wrapper(argv, env: env, dir: dir)]
        let started = await Support.run(args, environment: ["TERM": "xterm"])
        guard started.termination == .exited(code: 0) else { throw SSHServer.Failure.setup("tmux: \(started.stderr.text)") }
        let pid = await Support.run(["tmux", "-S", dir + "/tmux.sock", "display-message", "-p", "#{pid}"])
        guard let p = Int32(pid.stdout.text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw SSHServer.Failure.setup("tmux server pid: \(pid.stdout.text) \(pid.stderr.text)")
        }
        serverPID = p
    }

    /// Starts the product in tmux, runs `body`, and always stops the server, also when `body` throws.
    public static func with(_ argv: [String], cols: Int = 80, rows: Int = 24, environment: [String: String] = [:],
                            _ body: (Tmux) async throws -> Void) async throws
    {
        let tmux = try await Tmux(argv, cols: cols, rows: rows, environment: environment)
        do { try await body(tmux) } catch {
            await tmux.stop()
            throw error
        }
        await tmux.stop()
    }

    /// `sh -c` that records the terminal settings around the product and its exit status. The environment
    /// is set here, not with `new-session -e`: tmux sets TERM in a pane itself. `swift test` runs tests with
    /// NO_COLOR=1; the product gets it only when the test asks for it.
    static func wrapper(_ argv: [String], env: [String: String], dir: String) -> String {
        func q(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let command = (["env", "-u", "NO_COLOR"] + env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" } + argv).map(q).joined(separator: " ")
        return "stty -a > \(dir)/stty-before; \(command) 2> \(dir)/stderr; echo $? > \(dir)/rc; stty -a > \(dir)/stty-after.tmp; mv \(dir)/stty-after.tmp \(dir)/stty-after; exec sleep 3600"
    }

    /// Runs the product again in the same pane (after it exited).
    public func respawn(_ argv: [String]) async {
        for f in ["rc", "stty-before", "stty-after", "stderr"] { unlink(dir + "/" + f) }
        _ = await tmux(["respawn-pane", "-k", Tmux.wrapper(argv, env: environment, dir: dir)])
    }

    @discardableResult
    func tmux(_ args: [String]) async -> TransportOutcome { await Support.run(["tmux", "-S", socket] + args) }

    /// The screen as text (with the escape sequences for colours and attributes when `escapes`).
    public func capture(escapes: Bool = false) async -> String {
        let text = await tmux(["capture-pane", "-p"] + (escapes ? ["-e"] : [])).stdout.text
        seen.withLock { $0.append(text) }
        return text
    }

    /// Every screen captured so far.
    public var captures: [String] { seen.withLock { $0 } }

    /// Types `text` as a paste, without putting it in any process's argv: tmux reads it from stdin into a
    /// buffer of its own, pastes it into the pane and deletes the buffer (for a secret, as a person types it).
    public func paste(_ text: String) async {
        _ = await Support.run(["tmux", "-S", socket, "load-buffer", "-b", "typed", "-"], stdin: .bytes(Array(text.utf8)))
        await tmux(["paste-buffer", "-d", "-b", "typed"])
    }

    /// Keys by tmux name (`Enter`, `Escape`, `C-c`, `j`).
    public func send(_ keys: String...) async { await tmux(["send-keys"] + keys) }

    /// Text typed literally.
    public func type(_ text: String) async { await tmux(["send-keys", "-l", text]) }

    public func resize(cols: Int, rows: Int) async { await tmux(["resize-window", "-x", "\(cols)", "-y", "\(rows)"]) }

    /// Polls the screen every 50 ms until `condition` holds; returns the screen that satisfied it, or nil
    /// (with the last screen in `last`) after `limit`.
    public func wait(_ limit: Duration = .seconds(20), until condition: (String) -> Bool) async -> String? {
        let end = ContinuousClock.now.advanced(by: limit)
        repeat {
            let screen = await capture()
            if condition(screen) { return screen }
            try? await Task.sleep(for: .milliseconds(50))
        } while ContinuousClock.now < end
        return nil
    }

    /// Waits for `text` on screen, wherever the screen happens to wrap it (see ``shows(_:_:)``).
    public func wait(for text: String, _ limit: Duration = .seconds(20)) async -> String? {
        await wait(limit) { Tmux.shows($0, text) }
    }

    /// Whether `screen` shows `phrase`: on one line, or wrapped over several lines of one box or pane (a
    /// line breaks where the width, a pid's digits or a path's length happen to put it). Runs of spaces
    /// count as one.
    public static func shows(_ screen: String, _ phrase: String) -> Bool {
        screen.contains(phrase) || flowing(screen).contains(collapsed(phrase))
    }

    /// The screen's text as it flows: each column between `│` borders joined across consecutive lines that
    /// have the same columns (a box's rows, a pane's rows), box-drawing characters dropped, runs of
    /// spaces made one. Columns are separated by new lines.
    public static func flowing(_ screen: String) -> String {
        var out: [String] = []
        var group: [[String]] = []
        func flush() {
            guard let width = group.first?.count else { return }
            for column in 0..<width { out.append(collapsed(group.map { $0[column] }.joined(separator: " "))) }
            group = []
        }
        for line in screen.split(separator: "\n", omittingEmptySubsequences: false) {
            let columns = line.split(separator: "│", omittingEmptySubsequences: false).map { column in
                String(column.map { ("\u{2500}"..."\u{257F}").contains($0) ? " " : $0 })
            }
            if let width = group.first?.count, width != columns.count { flush() }
            group.append(columns)
        }
        flush()
        return out.filter { !$0.isEmpty }.joined(separator: "\n")
    }

    static func collapsed(_ text: String) -> String {
        text.split(whereSeparator: { $0 == " " || $0 == "\n" }).joined(separator: " ")
    }

    public var lastScreen: String { captures.last ?? "" }

    /// The product's exit status once it has exited (the wrapper wrote it), polled up to `limit`.
    public func exitStatus(_ limit: Duration = .seconds(20)) async -> Int32? {
        _ = await Support.waitUntil(limit) { FileManager.default.fileExists(atPath: self.dir + "/stty-after") }
        return Int32(Support.read(dir + "/rc").trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// `stty -a` before the product started and after it exited.
    public var terminalSettings: (before: String, after: String) { (Support.read(dir + "/stty-before"), Support.read(dir + "/stty-after")) }

    /// The settings that differ between before and after, as `before -> after` words; empty when the same.
    public var terminalChanges: [String] {
        let (b, a) = terminalSettings
        let words = { (s: String) in Set(s.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == ";" }).map(String.init)) }
        let (wb, wa) = (words(b), words(a))
        return wb.subtracting(wa).sorted().map { "-\($0)" } + wa.subtracting(wb).sorted().map { "+\($0)" }
    }

    /// What the product wrote to stderr (after the screen closed).
    public var stderr: String { Support.read(dir + "/stderr") }

    /// The product's pid: the child of the pane's shell.
    public func productPID() async -> Int32? {
        guard let shell = Int32(await tmux(["display-message", "-p", "#{pane_pid}"]).stdout.text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { return nil }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).first { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == shell
        }
    }

    /// Stops the tmux server by the pid it reported, and removes the folder.
    public func stop() async {
        kill(serverPID, SIGTERM)
        _ = await Support.waitUntil(.seconds(5)) { kill(self.serverPID, 0) != 0 }
        if kill(serverPID, 0) == 0 { kill(serverPID, SIGKILL) }
        Support.remove(dir)
    }
}
