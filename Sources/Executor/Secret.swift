/// A value that must never be shown, logged, put in argv or in the environment.
///
/// It prints as `<secret, N bytes>` through every formatting path (`description`, `debugDescription`,
/// `dump`, `Encodable`), so an accidental interpolation cannot leak it. The bytes are reachable only
/// through ``withBytes(_:)``; the executor sends them on a child's stdin and scrubs them from output.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable, Encodable
{
    private let storage: [UInt8]

    public init(bytes: [UInt8]) { storage = bytes }
    public init(_ string: String) { storage = Array(string.utf8) }

    /// Number of bytes; safe to show.
    public var count: Int { storage.count }

    /// Gives the raw bytes to `body`. Keep the use short and never store them in another type.
    public func withBytes<R>(_ body: ([UInt8]) throws -> R) rethrows -> R { try body(storage) }

    public var description: String { "<secret, \(storage.count) bytes>" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
