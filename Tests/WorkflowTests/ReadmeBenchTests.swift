import Foundation
import Testing

/// The README's benchmark figures are the result files', put there by `bench/readme.py`: each block between
/// `<!-- from bench/results/NAME.md -->` and `<!-- end of bench/results/NAME.md -->` is that file, unchanged,
/// and the file names the commit it measured.
struct ReadmeBenchTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func theBenchmarkTablesAreTheResultFiles() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let blocks = readme.matches(of: /<!-- from (bench\/results\/[\w.-]+\.md) -->\n([\s\S]*?)<!-- end of \1 -->/)
        try #require(!blocks.isEmpty, "the README has no benchmark block")
        for block in blocks {
            let path = String(block.output.1)
            let file = try String(contentsOf: Self.root.appendingPathComponent(path), encoding: .utf8)
            #expect(String(block.output.2) == file, "the README's copy of \(path) differs from the file: run python3 bench/readme.py")
            #expect(file.hasPrefix("Measured ") && file.contains(" at commit "), "\(path) does not name the commit it measured")
        }
    }
}
