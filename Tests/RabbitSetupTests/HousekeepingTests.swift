import Executor
import Foundation
import Glibc
import RabbitSetup
import TestKit
import Testing
import Workflow

/// The servers' side of retention on real files through the real executor: what is listed, what is
/// surplus (never a file the journal names), and that pruning removes exactly that.
@Suite struct HousekeepingTests {
    @Test func oldBackupsGoButNotTheOnesARollbackNeedsNorOtherFiles() async throws {
        let root = Support.temporaryDirectory()
        defer { Support.remove(root) }
        let conf = root + "/rabbitmq.conf"
        Support.write("x = 1\n", to: conf)
        let backups = (1...6).map { "\(conf).rabbit-wizard-20261129T10000\($0).000Z.bak" }
        for (i, b) in backups.enumerated() { Support.write(String(repeating: "b", count: i + 1), to: b) }
        let exports = (1...3).map { "\(root)/rabbit-wizard-definitions-b-170000000\($0).json" }
        for e in exports { Support.write("{}", to: e) }
        // Not the wizard's backups of these patterns: a candidate, a symlink, another node's export.
        let others = [conf + ".rabbit-wizard-candidate", root + "/rabbit-wizard-definitions-b-1-1700000000.json",
                      root + "/rabbit-wizard-definitions-bb-1700000000.json"]
        for o in others { Support.write("o", to: o) }
        symlink(backups[5], conf + ".rabbit-wizard-20261129T100009.000Z.bak")

        let state = try StateDirectory(path: root + "/state")
        let host = HostFamily.posix.host(executor: try Executor(state: state), target: .local, step: nil)
        let patterns = [KeptPattern(prefix: conf + ".rabbit-wizard-", suffix: ".bak", what: "backups of rabbitmq.conf", keep: 2),
                        KeptPattern(prefix: root + "/rabbit-wizard-definitions-b-", suffix: ".json", what: "exports of b", keep: 2)]
        let listed = try await host.list(patterns)
        #expect(listed.map(\.path).sorted() == (backups + exports).sorted())
        #expect(listed.first { $0.path == backups[2] }?.bytes == 3)

        let needed: Set<String> = [backups[0], "backup"]
        let surplus = Housekeeping.surplus(listed, patterns: patterns, needed: needed)
        #expect(surplus == [backups[1], backups[2], backups[3], exports[0]])
        #expect(Housekeeping.surplus(listed, patterns: patterns, needed: nil).isEmpty, "unreadable undo data protects everything")

        try await host.prune(surplus)
        let left = try await host.list(patterns).map(\.path).sorted()
        #expect(left == [backups[0], backups[4], backups[5], exports[1], exports[2]].sorted())
        for o in others + [conf, conf + ".rabbit-wizard-20261129T100009.000Z.bak"] {
            var st = stat()
            #expect(lstat(o, &st) == 0, "\(o) was removed")
        }
    }
}
