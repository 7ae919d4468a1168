import Foundation
import Workflow

/// The before-state of one managed file, captured read-only before a step writes it: whether it existed,
/// where its backup goes (next to it, decided before writing), and its hash, mode and owner.
public struct SavedFile: Sendable, Codable, Equatable {
    public var path: String
    public var existed: Bool
    public var backup: String?
    public var sha256: String?
    public var mode: String?
    public var owner: String?
    public var group: String?

    /// Observes `path` now and names its backup `FILE.rabbit-wizard-<UTC time>.bak`.
    public static func capture(_ path: String, with files: any ServerHost) async throws(StepFailure) -> SavedFile {
        let seen = try await files.observe(path)
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss.SSS'Z'"
        let existed = seen.kind == .regular
        return SavedFile(path: path, existed: existed, backup: existed ? "\(path).rabbit-wizard-\(f.string(from: Date())).bak" : nil,
                         sha256: seen.sha256, mode: seen.mode, owner: seen.owner, group: seen.group)
    }

    /// `user:group` as it was, for writing the new version with the same owner.
    public var ownerSpec: String { owner.flatMap { o in group.map { "\(o):\($0)" } } ?? "" }

    /// Puts the before-state back: the backup (bytes, mode, owner) or no file. Returns whether anything
    /// changed, so callers know whether a restart is needed. Idempotent.
    @discardableResult
    public func restore(with files: any ServerHost) async throws(StepFailure) -> Bool {
        let seen = try await files.observe(path)
        if existed {
            if seen.kind == .regular && seen.sha256 == sha256 && seen.mode == mode && seen.owner == owner && seen.group == group {
                return false
            }
            guard let backup else { throw StepFailure("no backup was recorded for \(path)") }
            try await files.restore(path, from: backup)
            return true
        }
        if seen.kind == .missing { return false }
        try await files.remove(path)
        return true
    }
}
