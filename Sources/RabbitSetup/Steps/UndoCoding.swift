import Workflow

/// Undo data in and out of the journal, with failures in words.
enum UndoCoding {
    static func encode<T: Encodable>(_ value: T) throws(StepFailure) -> Undo {
        do { return try Undo(value) } catch { throw StepFailure("cannot record undo data: \(error)") }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ undo: Undo) throws(StepFailure) -> T {
        do { return try undo.decode(type) } catch {
            throw StepFailure("the undo data of this step cannot be read: \(error)", fix: "the journal may come from another version")
        }
    }
}
