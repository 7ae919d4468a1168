import ArgumentParser
import Executor
import Foundation
import WizardCore
import Workflow

/// `rabbit-wizard log`: the executor's command log.
struct LogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Show the command log: every command the wizard ran, where, how long and how it ended.")

    @Option(help: ArgumentHelp("Only commands of this step.", valueName: "ID")) var step: String?
    @Flag(help: "Print the records as JSON Lines.") var json = false
    @Flag(help: "Include the output tails.") var output = false
    @OptionGroup var options: WorkflowOptions

    func run() async throws {
        // --state-dir wins; else the topology's state_dir (where apply logged), else the default.
        var path = options.state.stateDir
        if path == nil, options.config != nil { path = try StepCatalog.steps(config: options.config).stateDir }
        let state: StateDirectory
        do { state = try StateDirectory(path: path) } catch { throw ErrorPresenter.fail(error, code: .badInput) }
        let contents: CommandLog.Contents
        do { contents = try CommandLog.readAll(path: state.commandLogPath) } catch {
            print("No commands logged yet (\(state.commandLogPath)).")
            return
        }
        if !contents.damagedLines.isEmpty {
            let lines = contents.damagedLines.map(String.init).joined(separator: ", ")
            let note = "rabbit-wizard: \(state.commandLogPath): skipped \(contents.damagedLines.count) damaged line(s) "
                + "(cut off by a crash or a full disk, or not a record): line \(lines)\n"
            FileHandle.standardError.write(Data(note.utf8))
        }
        for (file, damaged) in contents.damagedRotated.sorted(by: { $0.key < $1.key }) {
            FileHandle.standardError.write(Data("rabbit-wizard: \(file): skipped \(damaged.count) damaged line(s): line \(damaged.map(String.init).joined(separator: ", "))\n".utf8))
        }
        let records = contents.records.filter { step == nil || $0.step?.rawValue == step }
        if let step, records.isEmpty {
            let known = Set(contents.records.compactMap(\.step)).sorted()
            throw ErrorPresenter.fail("no command of step \(step) in \(state.commandLogPath); the steps in it: "
                                      + (known.isEmpty ? "none" : known.map(\.rawValue).joined(separator: ", ")), code: .badInput)
        }
        if json {
            for r in records { print(String(decoding: try CommandLog.encoder.encode(r), as: UTF8.self)) }
            return
        }
        let time = DateFormatter()
        time.dateFormat = "yyyy-MM-dd HH:mm:ss"
        for r in records {
            let argv = r.argv.map { word -> String in
                let flat = word.replacing("\n", with: "\\n")
                return ShellQuote.quote(flat.count > 60 ? String(flat.prefix(57)) + "..." : flat)
            }.joined(separator: " ")
            // A request over a node connection shows which one answered it.
            let via = r.via.map { "(\($0)) " } ?? ""
            print("\(time.string(from: r.started))  \((r.step?.rawValue ?? "-").padding(toLength: 20, withPad: " ", startingAt: 0)) \(r.target)  \(String(format: "%.2fs", r.durationSeconds))  \(r.termination)  \(via)\(argv)")
            if output {
                for line in (r.stdoutTail + r.stderrTail).split(separator: "\n").suffix(20) { print("      \(line)") }
            }
        }
    }
}

/// `rabbit-wizard journal repair`: the recovery path for a damaged journal.
struct JournalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "journal",
        abstract: "Repair a damaged journal.",
        subcommands: [Repair.self])

    struct Repair: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Keep a damaged journal file as FILE.damaged and continue from its entries before the damage.",
            discussion: """
                Servers are not touched. Whatever the lost entries described is found again by observation: \
                the next apply reconciles each step from what the servers show.
                """)

        @Flag(help: "Do not ask.") var yes = false
        @OptionGroup var state: StateOptions

        func run() async throws {
            let dir: StateDirectory
            let journalDir: String
            do {
                dir = try StateDirectory(path: state.stateDir)
                journalDir = try dir.folder("journal")
            } catch { throw ErrorPresenter.fail(error, code: .badInput) }
            do {
                _ = try Journal.readAll(in: journalDir)
                print("The journal is intact; nothing to repair.")
                return
            } catch {
                guard let file = error.file else { throw ErrorPresenter.fail(WorkflowError.journal(error), code: .staleOrDirty) }
                print(ErrorPresenter.describe(WorkflowError.journal(error)))
                if !yes {
                    guard isatty(0) == 1 else { throw ErrorPresenter.fail("repair changes the journal: confirm with --yes", code: .needsConfirmation) }
                    print("Set \(file) aside and keep its valid entries? [y/N] ", terminator: "")
                    guard ["y", "yes"].contains(readLine()?.lowercased() ?? "") else { return }
                }
                let lock: RunLock
                do { lock = try RunLock(stateDirectory: dir.path, command: "journal repair", takeOverStale: true) } catch {
                    throw ErrorPresenter.fail(WorkflowError.lock(error), code: .locked)
                }
                defer { lock.release() }
                do {
                    let kept = try Journal.repair(file: file)
                    print("Kept \(kept) entries; the damaged file is \(file).damaged. Run 'rabbit-wizard apply' to reconcile.")
                } catch {
                    throw ErrorPresenter.fail(WorkflowError.journal(error), code: .staleOrDirty)
                }
            }
        }
    }
}
