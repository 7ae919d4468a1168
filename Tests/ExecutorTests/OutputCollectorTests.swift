import Testing

@testable import Executor
import TestKit

/// Line splitting, scrubbing and bounds, without processes.
@Suite struct OutputCollectorTests {
    func feed(_ chunks: [String], secrets: [String], head: Int = 1 << 20, tail: Int = 1 << 10, maxLine: Int = 1 << 16)
        -> (OutputCollector, [String])
    {
        var c = OutputCollector(redactor: Redactor(secrets: secrets.map(Secret.init)), headLimit: head, tailLimit: tail, maxLineBytes: maxLine)
        var lines: [String] = []
        for chunk in chunks { Array(chunk.utf8).withUnsafeBytes { c.append($0) { lines.append($0) } } }
        c.finish { lines.append($0) }
        return (c, lines)
    }

    @Test func secretSplitAcrossChunksIsScrubbed() {
        let (c, lines) = feed(["cookie=SEC", "RETVALUE\nnext\n"], secrets: ["SECRETVALUE"])
        #expect(lines == ["cookie=<redacted>", "next"])
        #expect(!c.headText.contains("SECRET"))
    }

    @Test func secretInAnOverlongLineIsScrubbedAcrossPieces() {
        let filler = String(repeating: "x", count: 100)
        // maxLine 64: the line is passed on in pieces, the secret straddles a cut.
        let (c, lines) = feed([filler.prefix(60) + "TOPSECRET", "123" + filler + "\n"], secrets: ["TOPSECRET123"], maxLine: 64)
        #expect(!lines.joined().contains("TOPSECRET"))
        #expect(!c.headText.contains("TOPSECRET"))
        #expect(lines.joined().contains("<redacted>"))
    }

    @Test func cookieWithTrailingNewlineIsScrubbedWithoutIt() {
        let (_, lines) = feed(["value: ABCDEFGHIJ\n"], secrets: ["ABCDEFGHIJ\n"])
        #expect(lines == ["value: <redacted>"])
    }

    @Test func headStopsAtWholeLinesAndTailKeepsTheEnd() {
        let chunks = (1...100).map { "line \($0)\n" }
        let (c, _) = feed(chunks, secrets: [], head: 30, tail: 16)
        #expect(c.headTruncated)
        #expect(c.headText == "line 1\nline 2\nline 3\nline 4\n")
        #expect(c.tailText.hasSuffix("line 100\n"))
        #expect(c.tailText.utf8.count <= 16)
    }

    @Test func shortFragmentsAreNotRedacted() {
        let r = Redactor(secrets: [Secret("ab\nlongerpart")])
        #expect(r.scrub("ab cd longerpart") == "ab cd <redacted>")
    }
}
