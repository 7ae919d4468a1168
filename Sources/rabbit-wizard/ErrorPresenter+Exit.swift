import ArgumentParser
import Executor
import Foundation
import WizardCore
import Workflow

/// How a command ends on the terminal: the words come from ``ErrorPresenter``, the exit codes are
/// ArgumentParser's.
extension ErrorPresenter {
    /// Prints how a run ended; throws the matching exit code unless it succeeded.
    /// `plan --detailed-exitcode`, after a plan that completed: 1 with the findings that would block
    /// apply, 2 when apply would change something, else nothing (0).
    static func detailedExit(forPlan state: RunnerState) throws {
        let blocking = state.blockingFindings
        if !blocking.isEmpty {
            throw fail("apply would be blocked by \(blocking.count) finding(s): " + Set(blocking.map(\.name)).sorted().joined(separator: ", "),
                       code: .failed)
        }
        if state.changesPending { throw ExitCode(Code.changesPending.rawValue) }
    }

    static func exit(for state: RunnerState) throws {
        guard let (message, code) = summary(for: state) else { return }
        guard code == .success else { throw fail(message, code: code) }
        if state.mode != .plan { print(message) }
    }

    /// Returns normally for success; otherwise prints the reason and throws the matching exit code.
    static func exitFor(_ result: CommandResult, knownHostsPath: String) throws {
        if let problem = result.logProblem { throw fail(problem, code: .failed) }
        switch result.termination {
        case .exited(0), .notRun: return
        case .exited(let code):
            FileHandle.standardError.write(Data("rabbit-wizard: \(describe(result.termination, target: result.record.target, knownHostsPath: knownHostsPath))\n".utf8))
            throw ExitCode(code)
        case .connectionFailed:
            throw fail(describe(result.termination, target: result.record.target, knownHostsPath: knownHostsPath), code: .unreachable)
        default:
            throw fail(describe(result.termination, target: result.record.target, knownHostsPath: knownHostsPath), code: .failed)
        }
    }
}
