import Foundation

/// What a step needs to undo its work, captured when it acts and kept in the journal. Steps encode their
/// own `Codable` type into it; the journal keeps it as JSON text. Never put a secret in it.
public struct Undo: Sendable, Codable, Equatable {
    public var json: String

    public init(json: String) { self.json = json }

    public init<T: Encodable>(_ value: T) throws { json = try JSONText.encode(value) }

    public func decode<T: Decodable>(_ type: T.Type) throws -> T { try JSONText.decode(type, json) }

    public static let none = Undo(json: "{}")
}

/// What a change means to the step that planned it, as the step's own `Codable` value: `apply` reads it
/// back instead of parsing the change's `target`, which is words for people.
public struct ChangeDetail: Sendable, Codable, Equatable {
    public var json: String

    public init<T: Encodable>(_ value: T) throws { json = try JSONText.encode(value) }

    public func decode<T: Decodable>(_ type: T.Type) throws -> T { try JSONText.decode(type, json) }
}

/// A step's own values as canonical JSON text (sorted keys), as the journal and plans keep them.
enum JSONText {
    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ json: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(json.utf8))
    }
}
