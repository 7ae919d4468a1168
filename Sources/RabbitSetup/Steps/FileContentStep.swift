import Executor
import Foundation
import Workflow

/// Makes one file hold exactly the given bytes and mode: the simplest complete step, used by the
/// engine's conformance and crash tests (through `RABBIT_WIZARD_TEST_STEPS`) and as the pattern the
/// configuration steps follow. Rollback is complete: the previous bytes, mode and owner, or no file.
public struct FileContentStep: Step {
    public let id: StepID
    public var findingNames: [String] { ["not-a-regular-file"] }
    public let title: String
    public let target: Target
    public let path: String
    public let content: [UInt8]
    public let mode: String
    public var rollbackScope: RollbackScope { .complete }

    public init(id: StepID, title: String? = nil, target: Target = .local, path: String, content: [UInt8], mode: String = "644") {
        self.id = id
        self.title = title ?? "write \(path)"
        self.target = target
        self.path = path
        self.content = content
        self.mode = mode
    }

    /// The engine's test steps write plain files on POSIX machines.
    func files(_ context: StepContext) -> any ServerHost { HostFamily.posix.host(executor: context.executor, target: target, step: id) }

    public func check(_ context: StepContext) async throws(StepFailure) -> [Finding] {
        let seen = try await files(context).observe(path)
        switch seen.kind {
        case .symlink, .other:
            return [Finding("not-a-regular-file", .error, node: target.description,
                            message: "\(path) is \(seen.kind.words), not a regular file",
                            fix: "replace it with a regular file, or manage the file it points to")]
        default: return []
        }
    }

    public func plan(_ context: StepContext) async throws(StepFailure) -> Plan {
        let seen = try await files(context).observe(path, bytes: true)
        let after = String(decoding: content, as: UTF8.self)
        switch seen.kind {
        case .missing:
            return Plan(step: id, changes: [Change(.add, target: "\(target):\(path)", node: target.description,
                                                   summary: "create with mode \(mode)", after: after)])
        case .regular where seen.bytes == content && seen.mode == mode:
            return Plan(step: id, changes: [])
        case .regular:
            let before = String(decoding: seen.bytes ?? [], as: UTF8.self)
            let summary = seen.bytes == content ? "mode \(seen.mode ?? "?") -> \(mode)" : "replace content"
            return Plan(step: id, changes: [Change(.modify, target: "\(target):\(path)", node: target.description,
                                                   summary: summary, before: before, after: after)])
        case .symlink, .other:
            throw StepFailure("\(path) on \(target) is not a regular file", fix: "see the installation findings")
        }
    }

    public func prepare(_ plan: Plan, _ context: StepContext) async throws(StepFailure) -> Undo {
        try UndoCoding.encode(try await SavedFile.capture(path, with: files(context)))
    }

    public func apply(_ plan: Plan, prepared: Undo, _ context: StepContext) async throws(StepFailure) -> Undo {
        let saved = try UndoCoding.decode(SavedFile.self, prepared)
        try await files(context).write(path, .bytes(content), mode: mode, owner: "", backup: saved.backup)
        return prepared
    }

    public func verify(_ context: StepContext) async throws(StepFailure) {
        let seen = try await files(context).observe(path, bytes: true)
        guard seen.kind == .regular, seen.bytes == content, seen.mode == mode else {
            throw StepFailure("\(path) on \(target) does not hold the expected content and mode \(mode)",
                              fix: "look at the file; then retry or roll back this step")
        }
    }

    public func rollback(_ undo: Undo, _ context: StepContext) async throws(StepFailure) {
        try await UndoCoding.decode(SavedFile.self, undo).restore(with: files(context))
    }
}
