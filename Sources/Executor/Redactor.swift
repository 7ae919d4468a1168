import Glibc

/// Replaces every occurrence of known secret values in output bytes with `<redacted>`.
///
/// Output is scrubbed line by line before anything else sees it (subscribers, capture, the log), so
/// cutting a scrubbed buffer later can never expose part of a secret. A secret that spans several
/// lines is scrubbed line by line; fragments shorter than ``minimumLength`` are not searched for, since
/// replacing two-byte strings everywhere would destroy the output without protecting anything.
public struct Redactor: Sendable {
    public static let marker: [UInt8] = Array("<redacted>".utf8)
    public static let minimumLength = 3

    /// Byte patterns, longest first so that a longer secret wins over its own prefix.
    let patterns: [[UInt8]]

    public init(secrets: [Secret]) {
        var found = Set<[UInt8]>()
        for secret in secrets {
            secret.withBytes { bytes in
                for candidate in Redactor.fragments(of: bytes) where candidate.count >= Redactor.minimumLength {
                    found.insert(candidate)
                }
            }
        }
        patterns = found.sorted { $0.count > $1.count }
    }

    /// The longest pattern, which bounds how much of a long line must be held back while streaming.
    public var longestPattern: Int { patterns.first?.count ?? 0 }
    public var isEmpty: Bool { patterns.isEmpty }

    /// The whole value, the value without surrounding whitespace (how Erlang reads a cookie file), and each
    /// of its lines. Line endings are never part of a pattern, so scrubbing keeps the line structure.
    static func fragments(of bytes: [UInt8]) -> [[UInt8]] {
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
        var result: [[UInt8]] = bytes.contains(where: { $0 == 0x0A || $0 == 0x0D }) ? [] : [bytes]
        var trimmed = bytes[...]
        while let f = trimmed.first, isSpace(f) { trimmed = trimmed.dropFirst() }
        while let l = trimmed.last, isSpace(l) { trimmed = trimmed.dropLast() }
        if !trimmed.contains(where: { $0 == 0x0A || $0 == 0x0D }) { result.append(Array(trimmed)) }
        for line in bytes.split(whereSeparator: { $0 == 0x0A || $0 == 0x0D }) {
            result.append(Array(line))
        }
        return result
    }

    /// Returns `bytes` with every pattern replaced by ``marker``.
    public func scrub(_ bytes: [UInt8]) -> [UInt8] {
        guard !patterns.isEmpty, !bytes.isEmpty else { return bytes }
        var current = bytes
        for pattern in patterns {
            current = Redactor.replace(pattern, in: current)
        }
        return current
    }

    public func scrub(_ text: String) -> String {
        guard !patterns.isEmpty else { return text }
        return String(decoding: scrub(Array(text.utf8)), as: UTF8.self)
    }

    static func replace(_ pattern: [UInt8], in bytes: [UInt8]) -> [UInt8] {
        guard bytes.count >= pattern.count else { return bytes }
        var out: [UInt8] = []
        var changed = false
        var position = 0
        bytes.withUnsafeBytes { hay in
            pattern.withUnsafeBytes { needle in
                while position <= hay.count - needle.count {
                    guard let offset = Redactor.find(needle, in: hay, from: position) else { break }
                    if !changed { out.reserveCapacity(hay.count); changed = true }
                    out.append(contentsOf: hay[position..<offset])
                    out.append(contentsOf: Redactor.marker)
                    position = offset + needle.count
                }
                if changed { out.append(contentsOf: hay[position...]) }
            }
        }
        return changed ? out : bytes
    }

    /// First offset of `needle` in `hay` at or after `start`: memchr for the first byte, then memcmp.
    static func find(_ needle: UnsafeRawBufferPointer, in hay: UnsafeRawBufferPointer, from start: Int) -> Int? {
        let base = hay.baseAddress!
        let first = Int32(needle[0])
        var position = start
        while position <= hay.count - needle.count {
            guard let hit = memchr(base + position, first, hay.count - needle.count + 1 - position) else { return nil }
            let offset = base.distance(to: UnsafeRawPointer(hit))
            if memcmp(base + offset, needle.baseAddress!, needle.count) == 0 { return offset }
            position = offset + 1
        }
        return nil
    }
}
