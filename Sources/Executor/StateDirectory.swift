import Foundation
import Glibc

/// The folder where the wizard keeps its command log, journal, lock and known_hosts: owned by the user
/// running the wizard, private (no group or other permissions), never a symlink, never a system folder.
///
/// The wizard never changes the mode of a folder it did not create: folders it creates are made 0700; an
/// existing folder that is not private, not ours or a symlink is refused with the reason and the fix.
public struct StateDirectory: Sendable {
    public let path: String

    public enum Problem: Error, Equatable, Sendable {
        case notADirectory(String)
        case isSymlink(String)
        case wrongOwner(String, uid: UInt32)
        case cannotCreate(String, errno: Int32)
        /// An existing folder that others may read or enter (`mode` has group or other bits).
        case notPrivate(String, mode: UInt32)
        /// A folder of the operating system (or the home folder itself), never a state folder.
        case systemFolder(String)
    }

    /// `$XDG_STATE_HOME/rabbit-wizard`, else `$HOME/.local/state/rabbit-wizard`.
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let xdg = environment["XDG_STATE_HOME"], xdg.hasPrefix("/") { return xdg + "/rabbit-wizard" }
        return home(environment) + "/.local/state/rabbit-wizard"
    }

    /// `$HOME`, else the account's home folder.
    public static func home(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
    }

    /// Folders of the system itself: never a state folder, nor anything inside the first group.
    static let systemTrees = ["/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/boot", "/dev", "/proc", "/sys"]
    static let systemFolders = ["/", "/var", "/var/lib", "/var/log", "/var/tmp", "/var/cache", "/tmp", "/run", "/home", "/root",
                                "/opt", "/srv", "/mnt", "/media"]

    /// Whether `path` (absolute) is a system folder, inside a system tree, or the home folder itself.
    public static func isSystemFolder(_ path: String, home: String = StateDirectory.home()) -> Bool {
        let clean = normalized(path)
        if systemFolders.contains(clean) || clean == normalized(home) { return true }
        return systemTrees.contains { clean == $0 || clean.hasPrefix($0 + "/") }
    }

    /// `path` without `.` and `..` segments, repeated or trailing slashes (by the text: links are not read).
    static func normalized(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") where part != "." {
            if part == ".." { _ = parts.popLast() } else { parts.append(part) }
        }
        return "/" + parts.joined(separator: "/")
    }

    /// Creates the folder (and missing parents, 0700) if needed; refuses a system folder, a symlink, a
    /// folder of someone else's and an existing folder that is not private. Nothing is created or changed
    /// before the path has passed the system-folder check.
    public init(path: String? = nil) throws(Problem) {
        let given = path ?? StateDirectory.defaultPath()
        let path = given.hasPrefix("/") ? given : FileManager.default.currentDirectoryPath + "/" + given
        if StateDirectory.isSystemFolder(path) { throw .systemFolder(path) }
        try StateDirectory.makeDirectories(path)
        try StateDirectory.requirePrivate(path)
        self.path = path
    }

    static func makeDirectories(_ path: String) throws(Problem) {
        var prefix = ""
        for part in path.split(separator: "/") {
            prefix += "/" + part
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST { throw .cannotCreate(prefix, errno: errno) }
        }
    }

    /// Checks that `path` is a real folder of ours with no group or other permissions. Never changes it.
    static func requirePrivate(_ path: String) throws(Problem) {
        var st = stat()
        guard lstat(path, &st) == 0 else { throw .cannotCreate(path, errno: errno) }
        if (st.st_mode & S_IFMT) == S_IFLNK { throw .isSymlink(path) }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw .notADirectory(path) }
        guard st.st_uid == geteuid() else { throw .wrongOwner(path, uid: st.st_uid) }
        if st.st_mode & 0o077 != 0 { throw .notPrivate(path, mode: UInt32(st.st_mode & 0o7777)) }
    }

    public func file(_ name: String) -> String { path + "/" + name }

    public var commandLogPath: String { file("commands.jsonl") }
    public var knownHostsPath: String { file("known_hosts") }

    /// A private folder inside the state folder (`journal`, `running`), created 0700 if missing; an
    /// existing one must be a real, private folder of ours (a symlink is refused, never followed).
    public func folder(_ name: String) throws(Problem) -> String {
        let inside = file(name)
        try StateDirectory.privateFolder(inside)
        return inside
    }

    /// A short folder for ssh control sockets: inside the state folder when its path is short enough,
    /// else `/tmp/rabbit-wizard-UID` (created 0700 and checked to be ours and private).
    public func controlSocketDirectory() throws(Problem) -> String {
        let inside = file("ssh")
        let candidate = inside.utf8.count <= 48 ? inside : "/tmp/rabbit-wizard-\(geteuid())"
        try StateDirectory.privateFolder(candidate)
        return candidate
    }

    /// Creates `path` (0700) if missing, or checks that the existing one is a private folder of ours.
    static func privateFolder(_ path: String) throws(Problem) {
        if mkdir(path, 0o700) != 0 && errno != EEXIST { throw .cannotCreate(path, errno: errno) }
        try requirePrivate(path)
    }
}
