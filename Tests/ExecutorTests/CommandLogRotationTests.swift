import Foundation
import Testing

@testable import Executor
import TestKit

/// The command log stays bounded: rotated by size, the oldest rotated files deleted, and read back whole
/// across what is kept.
@Suite struct CommandLogRotationTests {
    static func record(_ n: Int) -> CommandRecord {
        CommandRecord(id: "r\(n)", step: "file-a", target: "local", argv: ["echo", String(repeating: "x", count: 200)], mutates: true, stdin: nil,
                      started: Date(timeIntervalSince1970: Double(n)), durationSeconds: 0.01, termination: .exited(code: 0), pid: 1,
                      stdoutTail: "", stderrTail: "", stdoutBytes: 0, stderrBytes: 0)
    }

    static func size(_ path: String) -> Int { (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1 }

    @Test func theLogRotatesKeepsTheNewestAndReadsAcrossFiles() throws {
        let root = Support.temporaryDirectory()
        defer { Support.remove(root) }
        let path = root + "/commands.jsonl"
        let log = try CommandLog(path: path, rotateAt: 4096, keep: 2)
        for n in 1...200 { try log.append(Self.record(n)) }
        let files = CommandLog.files(path: path)
        #expect(files == [path + ".2", path + ".1", path], "\(files)")
        #expect(!FileManager.default.fileExists(atPath: path + ".3"))
        let one = try Data(CommandLog.encoder.encode(Self.record(200))).count + 1
        for f in files { #expect(Self.size(f) < 4096 + one, "\(f): \(Self.size(f)) bytes") }
        let ids = try CommandLog.readAll(path: path).records.map(\.id)
        // The newest records, in order, none twice, none missing inside what is kept.
        #expect(ids.last == "r200")
        let numbers = ids.map { Int($0.dropFirst())! }
        #expect(numbers == Array((numbers.first ?? 0)...200), "\(numbers)")
        #expect(numbers.count < 200 && numbers.count > 2 * (4096 / one), "kept \(numbers.count) records")
        // A single file, as before rotation existed.
        #expect(try CommandLog.read(path: path).records.map(\.id).last == "r200")
    }

    /// Two writers (a run and a read-only `status` at the same time): the one whose file was rotated away
    /// continues in the new file; nothing written is lost inside what is kept.
    @Test func aWriterWhoseFileWasRotatedAwayContinuesInTheNewOne() throws {
        let root = Support.temporaryDirectory()
        defer { Support.remove(root) }
        let path = root + "/commands.jsonl"
        let a = try CommandLog(path: path, rotateAt: 4096, keep: 8)
        let b = try CommandLog(path: path, rotateAt: 4096, keep: 8)
        for n in 1...60 { try (n % 2 == 0 ? a : b).append(Self.record(n)) }
        let ids = try CommandLog.readAll(path: path).records.map { Int($0.id.dropFirst())! }
        #expect(Set(ids) == Set(1...60) && ids.count == 60, "\(ids)")
        #expect(CommandLog.files(path: path).count > 2)
        // Both writers' last records are in the current file: neither wrote on into a rotated one.
        let current = try CommandLog.read(path: path).records.map(\.id)
        #expect(current.contains("r59") && current.contains("r60"), "\(current)")
    }
}
