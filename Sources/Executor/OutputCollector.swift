import Glibc

/// Splits one output stream into lines, scrubs each line, hands it to a listener and keeps a bounded
/// head (for the caller to parse) and a bounded tail (for the log).
///
/// Scrubbing happens on whole lines before anything is kept or cut, so a later cut cannot expose part
/// of a secret. A line longer than ``maxLineBytes`` is passed on in pieces; the last
/// `longestPattern - 1` bytes are held back so that a secret across the cut is still whole when scrubbed.
struct OutputCollector {
    let redactor: Redactor
    let headLimit: Int
    let tailLimit: Int
    let maxLineBytes: Int
    /// Keep the raw bytes instead of scrubbed lines (secret stdout); nothing is passed to listeners.
    let secret: Bool

    private(set) var head: [UInt8] = []
    private(set) var headTruncated = false
    private(set) var tail: [UInt8] = []
    private(set) var totalBytes = 0
    private var pending: [UInt8] = []

    init(redactor: Redactor, headLimit: Int, tailLimit: Int, maxLineBytes: Int = 64 * 1024, secret: Bool = false) {
        self.redactor = redactor
        self.headLimit = headLimit
        self.tailLimit = tailLimit
        self.maxLineBytes = max(maxLineBytes, redactor.longestPattern * 2)
        self.secret = secret
    }

    mutating func append(_ chunk: UnsafeRawBufferPointer, line: (String) -> Void) {
        totalBytes += chunk.count
        if secret {
            if head.count + chunk.count <= headLimit { head.append(contentsOf: chunk) } else { headTruncated = true }
            return
        }
        guard let base = chunk.baseAddress else { return }
        var start = 0
        while start < chunk.count {
            if let nl = memchr(base + start, 0x0A, chunk.count - start) {
                let end = base.distance(to: UnsafeRawPointer(nl)) + 1
                pending.append(contentsOf: chunk[start..<end])
                flushLine(line)
                start = end
            } else {
                pending.append(contentsOf: chunk[start...])
                start = chunk.count
                if pending.count > maxLineBytes { flushLongLine(line) }
            }
        }
    }

    mutating func finish(line: (String) -> Void) {
        if !pending.isEmpty && !secret { flushLine(line) }
    }

    private mutating func flushLine(_ line: (String) -> Void) {
        let clean = redactor.scrub(pending)
        pending.removeAll(keepingCapacity: true)
        keep(clean)
        line(OutputCollector.text(of: clean))
    }

    private mutating func flushLongLine(_ line: (String) -> Void) {
        let clean = redactor.scrub(pending)
        let hold = max(redactor.longestPattern - 1, 0)
        let cut = clean.count - hold
        keep(Array(clean[..<cut]))
        line(OutputCollector.text(of: Array(clean[..<cut])))
        pending = Array(clean[cut...])
    }

    private mutating func keep(_ clean: [UInt8]) {
        if !headTruncated {
            if head.count + clean.count <= headLimit { head.append(contentsOf: clean) } else { headTruncated = true }
        }
        tail.append(contentsOf: clean)
        if tail.count > tailLimit * 2 { tail.removeFirst(tail.count - tailLimit) }
    }

    var tailText: String {
        String(decoding: tail.count > tailLimit ? Array(tail[(tail.count - tailLimit)...]) : tail, as: UTF8.self)
    }

    var headText: String { String(decoding: head, as: UTF8.self) }

    /// A line without its line ending, invalid UTF-8 replaced by U+FFFD.
    static func text(of bytes: [UInt8]) -> String {
        var end = bytes.count
        if end > 0 && bytes[end - 1] == 0x0A { end -= 1 }
        if end > 0 && bytes[end - 1] == 0x0D { end -= 1 }
        return String(decoding: bytes[..<end], as: UTF8.self)
    }
}
