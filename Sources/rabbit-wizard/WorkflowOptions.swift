import ArgumentParser
import Executor
import Foundation
import RabbitSetup
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

    /// Secrets from files or stdin, by the name the steps know them by.
    func secrets() throws -> [String: Secret] {
        var bytes: [UInt8]?
        if let outsystemsPasswordFile {
            guard let data = FileManager.default.contents(atPath: outsystemsPasswordFile) else {
                throw ValidationError("--outsystems-password-file \(outsystemsPasswordFile): cannot read the file")
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
