import Foundation
import Testing

@testable import Workflow

/// The README's exit code table says what ``ExitStatus`` says: the same codes, in the same order, with the
/// same meaning.
struct ExitStatusTests {
    @Test func readmeTableIsTheTable() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        let section = try #require(text.components(separatedBy: "### Exit codes\n").dropFirst().first)
        let rows = section.split(separator: "\n", omittingEmptySubsequences: false)
            .drop { !$0.hasPrefix("|") }.prefix { $0.hasPrefix("|") }.dropFirst(2)
        let table = rows.map { row -> String in
            let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            return cells.joined(separator: " = ")
        }
        #expect(table == ExitStatus.allCases.map { "\($0.rawValue) = \($0.meaning)" })
    }
}
