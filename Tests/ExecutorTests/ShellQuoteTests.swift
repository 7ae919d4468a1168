import Testing

@testable import Executor
import TestKit

@Suite struct ShellQuoteTests {
    @Test(arguments: [
        ("plain", "plain"), ("", "''"), ("a b", "'a b'"), ("it's", "'it'\\''s'"), ("$(id)", "'$(id)'"),
        ("/usr/sbin/rabbitmqctl", "/usr/sbin/rabbitmqctl"), ("rabbit@ServerA", "rabbit@ServerA"),
    ])
    func quotesExactly(input: String, expected: String) {
        #expect(ShellQuote.quote(input) == expected)
    }

    /// Random strings through a real `sh`: the shell must hand back exactly the original words.
    @Test func randomStringsRoundTripThroughShell() async {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [Character] = Array("ab Z09'\"\\$`;|&<>(){}[]*?!#~=%^,\t\n\r-+./:@") + ["é", "→", "🐇", "\u{7f}", "\u{1}"]
        for _ in 0..<8 {
            let words: [String] = (0..<60).map { _ in
                String((0..<Int.random(in: 0...24, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
            }
            let script = "printf '%s\\0' " + ShellQuote.join(words)
            for shell in ["/bin/sh", "/bin/bash"] {
                let out = await Support.run([shell, "-c", script])
                #expect(out.termination == .exited(code: 0))
                let back = out.stdout.text.split(separator: "\0", omittingEmptySubsequences: false).dropLast().map(String.init)
                #expect(back == words, "round trip through \(shell)")
            }
        }
    }
}
