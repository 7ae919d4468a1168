import Foundation

/// Edits `rabbitmq.conf` (the sysctl-like format) byte-exactly: one key is set, every other byte stays.
public enum RabbitConf {
    /// Lines with their endings kept, split on `\n` only (a `\r` stays with its line).
    static func lines(_ bytes: [UInt8]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var current: [UInt8] = []
        for b in bytes {
            current.append(b)
            if b == 0x0A { out.append(current); current = [] }
        }
        if !current.isEmpty { out.append(current) }
        return out
    }

    /// The value of `line` when it is an active (not commented) assignment of exactly `key`.
    static func value(of key: String, in line: [UInt8]) -> String? {
        var body = line[...]
        while let l = body.last, l == 0x0A || l == 0x0D { body = body.dropLast() }
        while let f = body.first, f == 0x20 || f == 0x09 { body = body.dropFirst() }
        let k = Array(key.utf8)
        guard body.starts(with: k) else { return nil }
        var rest = body.dropFirst(k.count)
        guard let next = rest.first, next == 0x20 || next == 0x09 || next == 0x3D else { return nil }
        while let f = rest.first, f == 0x20 || f == 0x09 { rest = rest.dropFirst() }
        guard rest.first == 0x3D else { return nil }
        rest = rest.dropFirst()
        return String(decoding: rest, as: UTF8.self).trimmingCharacters(in: .whitespaces)
    }

    /// The UTF-8 byte order mark. RabbitMQ 3.10 cannot parse a `rabbitmq.conf` that starts with one
    /// (`failed_to_parse_configuration_file`); the editor keeps it (every unrelated byte stays) and treats
    /// what follows it as the first line's text.
    public static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

    public static func startsWithByteOrderMark(_ bytes: [UInt8]) -> Bool { bytes.starts(with: byteOrderMark) }

    /// The lines, the first one without a byte order mark (returned separately, to be written back as it was).
    static func body(_ bytes: [UInt8]) -> (mark: [UInt8], lines: [[UInt8]]) {
        startsWithByteOrderMark(bytes) ? (byteOrderMark, lines(Array(bytes.dropFirst(3)))) : ([], lines(bytes))
    }

    /// Every active value of `key`, in file order (the last one wins in RabbitMQ).
    public static func values(of key: String, in bytes: [UInt8]) -> [String] {
        body(bytes).lines.compactMap { value(of: key, in: $0) }
    }

    /// `bytes` with exactly one active `key = value` line: the first existing one is replaced in place
    /// (keeping its indentation and line ending), later duplicates are removed, commented-out lines stay.
    /// Without one, the line is appended in the file's own line ending; a file without a final newline
    /// stays without one. Idempotent.
    public static func setting(_ key: String, to newValue: String, in bytes: [UInt8]) -> [UInt8] {
        let (mark, all) = body(bytes)
        let crlf = all.contains { $0.count >= 2 && $0[$0.count - 2] == 0x0D && $0.last == 0x0A }
        let ending: [UInt8] = crlf ? [0x0D, 0x0A] : [0x0A]
        var out: [UInt8] = []
        var replaced = false
        for line in all {
            guard value(of: key, in: line) != nil else { out += line; continue }
            if replaced { continue }
            replaced = true
            let indent = line.prefix { $0 == 0x20 || $0 == 0x09 }
            var end: [UInt8] = []
            if line.last == 0x0A { end = line.count >= 2 && line[line.count - 2] == 0x0D ? [0x0D, 0x0A] : [0x0A] }
            out += indent + Array("\(key) = \(newValue)".utf8) + end
        }
        if !replaced {
            if out.isEmpty {
                out = Array("\(key) = \(newValue)".utf8) + ending
            } else if out.last == 0x0A {
                out += Array("\(key) = \(newValue)".utf8) + ending
            } else {
                out += ending + Array("\(key) = \(newValue)".utf8)
            }
        }
        return mark + out
    }
}

