import Foundation

import Executor

/// A simulated Windows server for one test: a real sshd on loopback whose ForceCommand is
/// `Tests/tools/windows_host.py`. It checks each command as Win32-OpenSSH with cmd.exe as the default
/// shell would hand it to PowerShell (the constant command line, the bootstrap, the stdin framing, the
/// library followed by one call, the syntax), then carries out the call against ``drives`` (a folder
/// standing in for `C:\` and the other drives). An executor with the host key enrolled comes with it.
public final class WindowsSimulator {
    public let root: String
    public let server: SSHServer
    public let executor: Executor
    public let state: StateDirectory
    /// Where `C:\x\y` lives here: `drives/C/x/y`.
    public let drives: String

    public static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("tools/windows_host.py").path

    private init(root: String, server: SSHServer, executor: Executor, state: StateDirectory, drives: String) {
        self.root = root
        self.server = server
        self.executor = executor
        self.state = state
        self.drives = drives
    }

    /// With `clientKey`, the server lets that key in (one key for several simulated servers, as one
    /// `--identity` for the product).
    public static func start(clientKey: String? = nil) async throws -> WindowsSimulator {
        let root = Support.temporaryDirectory()
        if let clientKey {
            try FileManager.default.copyItem(atPath: clientKey, toPath: root + "/client_ed25519")
            try FileManager.default.copyItem(atPath: clientKey + ".pub", toPath: root + "/client_ed25519.pub")
        }
        Support.write(PowerShellLibrary.bootstrap, to: root + "/bootstrap.ps1")
        Support.write(PowerShellLibrary.text, to: root + "/library.ps1")
        let drives = root + "/drives"
        try FileManager.default.createDirectory(atPath: drives + "/C", withIntermediateDirectories: true)
        let server = try await SSHServer.start(in: root, forceCommand: "python3 \(script) \(root) \(root)/bootstrap.ps1 \(root)/library.ps1 \(drives)")
        let state = try StateDirectory(path: root + "/state")
        let options = SSHOptions(knownHostsFile: state.knownHostsPath, controlDirectory: try state.controlSocketDirectory(),
                                 identityFile: server.clientKey, connectTimeout: 3)
        let executor = Executor(commandLog: try CommandLog(path: state.commandLogPath), ssh: options)
        let keys = try await executor.scanHostKeys(of: server.destination).get()
        _ = try executor.enrol(keys, for: server.destination, expectedFingerprint: await server.hostFingerprint(), knownHostsPath: state.knownHostsPath).get()
        return WindowsSimulator(root: root, server: server, executor: executor, state: state, drives: drives)
    }

    /// Starts a simulated server, runs `body`, and always stops it, also when `body` throws.
    public static func with(clientKey: String? = nil, _ body: (WindowsSimulator) async throws -> Void) async throws {
        let windows = try await start(clientKey: clientKey)
        do { try await body(windows) } catch {
            await windows.stop()
            throw error
        }
        await windows.stop()
    }

    /// The server as a target that speaks PowerShell.
    public var target: Target {
        var d = server.destination
        d.dialect = .powershell
        return .ssh(d)
    }

    /// Where a Windows path (`C:\a\b`) is on this machine.
    public func local(_ windowsPath: String) -> String {
        let parts = windowsPath.split(separator: "\\").map(String.init)
        return ([drives + "/" + (parts.first ?? "C:").dropLast().uppercased()] + parts.dropFirst()).joined(separator: "/")
    }

    /// Every command line the host received, one per command.
    public var commandLines: [String] { Support.read(root + "/commands.txt").split(separator: "\n").map(String.init) }
    /// The environment of every call, as the host saw it (JSON objects, one per line).
    public var environments: String { Support.read(root + "/environments.txt") }
    /// The last line of every script the host received (the library call), one per command.
    public var calls: [String] { Support.read(root + "/calls.txt").split(separator: "\n").map(String.init) }

    public func stop() async {
        await executor.shutdown()
        await server.stop()
        Support.remove(root)
    }
}
