import ArgumentParser
import Executor
import Foundation
import RabbitSetup
import WizardCore
import Workflow

/// What every workflow command takes.
struct WorkflowOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: ArgumentHelp("The topology file.", valueName: "FILE"))
    var config: String?

    @OptionGroup var state: StateOptions

    @Option(name: .customLong("waive"), help: ArgumentHelp(
        "Do not let this finding block the run (repeatable; 'all' waives every finding).", valueName: "NAME"))
    var waive: [String] = []

    @Option(name: .customLong("outsystems-password-file"), help: ArgumentHelp(
        "The OutSystems cache user's password, read from this file (never give it on the command line).", valueName: "FILE"))
    var outsystemsPasswordFile: String?

    @Flag(name: .customLong("outsystems-password-stdin"), help: "Read the OutSystems cache user's password from stdin.")
    var outsystemsPasswordStdin = false

    @Option(name: .customLong("drill-mode"), help: ArgumentHelp(
        "How the failover drill fails each node: graceful (suspend_listeners, stop_app) or hard (its Erlang VM killed without warning, "
            + "then its service started); link-cut exists only on the multi-host test bed.", valueName: "MODE"))
    var drillMode: DrillMode = .graceful

    @Option(name: .customLong("max-gap"), help: ArgumentHelp(
        "The failover drill fails when invalidation messages stop arriving for longer than this (0.1 to 600).", valueName: "SECONDS"))
    var maxGap: Double = 10

    func validate() throws {
        guard (0.1...600).contains(maxGap) else { throw ValidationError("--max-gap \(maxGap): give 0.1 to 600 seconds") }
        if drillMode == .linkCut && DrillMode.linkCutProgram == nil {
            throw ValidationError("--drill-mode link-cut: only on the test bed, whose program cuts a node's link (\(DrillMode.linkCutVariable)); "
                                  + "use graceful or hard")
        }
    }

    /// The drill's settings from the flags (nil when both are the defaults).
    var drill: DrillSettings? {
        drillMode == .graceful && maxGap == 10 ? nil : DrillSettings(mode: drillMode, maxGap: .milliseconds(Int((maxGap * 1000).rounded())))
    }

    static var maxPasswordBytes: Int { OutSystemsHandoffStep.passwordRule.maxBytes }

    /// Secrets from files or stdin, by the name the steps know them by.
    func secrets() throws -> [String: Secret] {
        var bytes: [UInt8]?
        if let outsystemsPasswordFile {
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: outsystemsPasswordFile, isDirectory: &isFolder), isFolder.boolValue {
                throw ErrorPresenter.fail("--outsystems-password-file \(outsystemsPasswordFile) is a directory: give the file that holds the password",
                                          code: .badInput)
            }
            let size = (try? FileManager.default.attributesOfItem(atPath: outsystemsPasswordFile)[.size] as? Int) ?? 0
            if size > Self.maxPasswordBytes {
                throw ErrorPresenter.fail("--outsystems-password-file \(outsystemsPasswordFile) holds \(size) bytes: a password is at most "
                                          + "\(Self.maxPasswordBytes) (is it the right file?)", code: .badInput)
            }
            guard let data = FileManager.default.contents(atPath: outsystemsPasswordFile) else {
                throw ErrorPresenter.fail("--outsystems-password-file \(outsystemsPasswordFile): cannot read the file (missing, or not readable by you)",
                                          code: .badInput)
            }
            bytes = Array(data)
        } else if outsystemsPasswordStdin {
            bytes = Array((readLine(strippingNewline: true) ?? "").utf8)
        }
        guard var b = bytes else { return [:] }
        while let last = b.last, last == 0x0A || last == 0x0D { b.removeLast() }
        return [OutSystemsHandoffStep.passwordKey: Secret(bytes: b)]
    }
}

/// `--only` / `--skip`, shared by plan and apply.
struct SelectionOptions: ParsableArguments {
    @Option(name: .customLong("only"), help: ArgumentHelp("Run only this step (repeatable).", valueName: "ID"))
    var only: [String] = []

    @Option(name: .customLong("skip"), help: ArgumentHelp("Leave this step out (repeatable; wins over --only).", valueName: "ID"))
    var skip: [String] = []
}

/// How much of its own leftovers a run keeps: `apply`, `retry` and `rollback`.
struct RetentionOptions: ParsableArguments {
    @Option(name: .customLong("keep-backups"), help: ArgumentHelp(
        "Old backups kept per managed file and server, and definitions exports per node (never one a rollback still needs).",
        valueName: "N"))
    var keepBackups = Retention.standard.backupsPerFile

    @Option(name: .customLong("keep-runs"), help: ArgumentHelp(
        "Journal run files kept in the state directory (older ones go only when no step needs them).", valueName: "N"))
    var keepRuns = Retention.standard.journalRuns

    func validate() throws {
        guard keepBackups >= 1 else { throw ValidationError("--keep-backups must be at least 1 (the newest backup always stays)") }
        guard keepRuns >= 1 else { throw ValidationError("--keep-runs must be at least 1 (the run being written always stays)") }
    }

    var retention: Retention { Retention(backupsPerFile: keepBackups, exportsPerNode: keepBackups, journalRuns: keepRuns) }
}

extension DrillMode: ExpressibleByArgument {}
