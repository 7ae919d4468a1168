/// What a secret may be: not empty, at most `maxBytes` of UTF-8, no line break and none of `rejected`.
/// One rule for every front end: a step checks the secret it was given with it, and the screen checks a
/// secret with it as it is typed (the engine hands the screen the rule, never the other way round).
public struct SecretRule: Sendable, Equatable {
    /// Characters the secret's consumer does not accept, in the order its documentation lists them.
    public var rejected: [Character]
    /// Who rejects them, for the reason ("OutSystems").
    public var rejectedBy: String
    public var maxBytes: Int

    public init(rejected: [Character], rejectedBy: String, maxBytes: Int) {
        self.rejected = rejected
        self.rejectedBy = rejectedBy
        self.maxBytes = maxBytes
    }

    /// What the rule asks for, in words: "not empty; none of ? &; no line break".
    public var requirement: String { "not empty; none of \(rejected.map(String.init).joined(separator: " ")); no line break" }

    /// Why `text` cannot be used, in words that never quote it; nil when it can.
    public func problem(_ text: String) -> String? {
        if text.isEmpty { return "it is empty" }
        if text.utf8.count > maxBytes { return "it is longer than \(maxBytes) bytes" }
        if text.contains(where: \.isNewline) { return "it has a line break" }
        if text.contains(where: rejected.contains) {
            return "it has a character \(rejectedBy) rejects: \(rejected.map(String.init).joined(separator: " "))"
        }
        return nil
    }
}
