import Foundation
import Glibc

/// The folder where the wizard keeps its command log, journal, lock and known_hosts: mode 0700,
/// owned by the user running the wizard, never a symlink.
public struct StateDirectory: Sendable {
    public let path: String

    public enum Problem: Error, Equatable, Sendable {
        case notADirectory(String)
        case isSymlink(String)
        case wrongOwner(String, uid: UInt32)
        case cannotCreate(String, errno: Int32)
    }

    /// `$XDG_STATE_HOME/rabbit-wizard`, else `$HOME/.local/state/rabbit-wizard`.
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let xdg = environment["XDG_STATE_HOME"], xdg.hasPrefix("/") { return xdg + "/rabbit-wizard" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.local/state/rabbit-wizard"
    }

    /// Creates the folder (and missing parents) if needed and tightens its mode to 0700.
    public init(path: String? = nil) throws(Problem) {
        let path = path ?? StateDirectory.defaultPath()
        try StateDirectory.makeDirectories(path)
        var st = stat()
        guard lstat(path, &st) == 0 else { throw .cannotCreate(path, errno: errno) }
        if (st.st_mode & S_IFMT) == S_IFLNK { throw .isSymlink(path) }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw .notADirectory(path) }
        guard st.st_uid == geteuid() else { throw .wrongOwner(path, uid: st.st_uid) }
        if st.st_mode & 0o777 != 0o700 { chmod(path, 0o700) }
        self.path = path
    }

    static func makeDirectories(_ path: String) throws(Problem) {
        var prefix = ""
        for part in path.split(separator: "/") {
            prefix += "/" + part
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST { throw .cannotCreate(prefix, errno: errno) }
        }
    }

    public func file(_ name: String) -> String { path + "/" + name }

    public var commandLogPath: String { file("commands.jsonl") }
    public var knownHostsPath: String { file("known_hosts") }

    /// A short folder for ssh control sockets: inside the state folder when its path is short enough,
    /// else `/tmp/rabbit-wizard-UID` (created 0700 and checked to be ours).
    public func controlSocketDirectory() throws(Problem) -> String {
        let inside = file("ssh")
        let candidate = inside.utf8.count <= 48 ? inside : "/tmp/rabbit-wizard-\(geteuid())"
        try StateDirectory.privateFolder(candidate)
        return candidate
    }

    /// Creates `path` (0700) if missing and checks that it is a folder of ours (not a symlink), mode 0700.
    static func privateFolder(_ path: String) throws(Problem) {
        if mkdir(path, 0o700) != 0 && errno != EEXIST { throw .cannotCreate(path, errno: errno) }
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { throw .notADirectory(path) }
        guard st.st_uid == geteuid() else { throw .wrongOwner(path, uid: st.st_uid) }
        if st.st_mode & 0o777 != 0o700 { chmod(path, 0o700) }
    }
}
