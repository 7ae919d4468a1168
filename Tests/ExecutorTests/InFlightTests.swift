import Foundation
import Glibc
import Testing

@testable import Executor
import TestKit

/// The record of running commands that a killed run leaves for the next one (`STATE/running/`).
@Suite struct InFlightTests {
    /// A process group that outlives its leader: a command whose child still runs (as a command left by
    /// a killed run does). Ended by the caller.
    func groupStillRunning() async throws -> Int32 {
        let out = await Support.run(["sh", "-c", "sleep 120 >/dev/null 2>&1 & echo started"], timeout: .seconds(30))
        let pid = try #require(out.pid)
        #expect(!Support.members(ofProcessGroup: pid).isEmpty)
        return pid
    }

    func entry(_ pid: Int32) -> InFlight.Entry {
        InFlight.Entry(pid: pid, startTicks: nil, argv: ["sh", "-c", "sleep 120"], target: "local", step: "file-a",
                       started: Date(), timeoutSeconds: 600)
    }

    func names(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    /// `add` leaves one whole file under its final name: whoever sees `PID.json` can read it.
    @Test func anEntryAppearsWholeUnderItsFinalName() async throws {
        let root = Support.temporaryDirectory()
        defer { Support.remove(root) }
        let pid = try await groupStillRunning()
        defer { for member in Support.members(ofProcessGroup: pid) { kill(member, SIGKILL) } }
        let inFlight = try InFlight(directory: root + "/running")
        inFlight.add(entry(pid))
        #expect(names(inFlight.directory) == ["\(pid).json"])
        let data = try #require(FileManager.default.contents(atPath: inFlight.path(pid)))
        #expect(try InFlight.decoder.decode(InFlight.Entry.self, from: data).pid == pid)
        #expect(inFlight.leftovers().map(\.pid) == [pid])
    }

    /// A run killed between writing an entry and renaming it left a whole `.partial`: the command it
    /// names still runs, so the next run waits for it. One cut short names nothing and is removed.
    @Test func aWholePartialEntryIsWaitedForACutOneRemoved() async throws {
        let root = Support.temporaryDirectory()
        defer { Support.remove(root) }
        let pid = try await groupStillRunning()
        defer { for member in Support.members(ofProcessGroup: pid) { kill(member, SIGKILL) } }
        let inFlight = try InFlight(directory: root + "/running")
        let whole = try InFlight.encoder.encode(entry(pid))
        FileManager.default.createFile(atPath: inFlight.path(pid) + InFlight.partialSuffix, contents: whole, attributes: [.posixPermissions: 0o600])
        FileManager.default.createFile(atPath: inFlight.path(1) + InFlight.partialSuffix, contents: whole.prefix(10), attributes: [.posixPermissions: 0o600])
        #expect(inFlight.leftovers().map(\.pid) == [pid])
        #expect(names(inFlight.directory) == ["\(pid).json"])
    }
}
