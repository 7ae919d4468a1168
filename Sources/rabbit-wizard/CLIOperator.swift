import Foundation
import Workflow

/// Answers the runner's questions on the terminal, or by the flags when there is none.
struct CLIOperator: Operator {
    let yes: Bool
    let interactive: Bool

    init(yes: Bool) {
        self.yes = yes
        interactive = isatty(0) == 1 && isatty(1) == 1
    }

    func confirm(_ step: StepID, _ plan: Plan) async -> Bool {
        if yes { return true }
        guard interactive else { return false }
        if !plan.destructive.isEmpty {
            print("This DESTROYS: \(plan.destructive.joined(separator: "; ")).")
            print("Type the step id (\(step)) to go ahead: ", terminator: "")
            return readLine()?.trimmingCharacters(in: .whitespaces) == step.rawValue
        }
        print("Apply \(step)? [y/N] ", terminator: "")
        return ["y", "yes"].contains(readLine()?.trimmingCharacters(in: .whitespaces).lowercased() ?? "")
    }

    func choose(_ step: StepID, _ choices: [Choice], failure: StepFailure?) async -> Choice {
        guard interactive else { return await NonInteractiveOperator(yes: yes).choose(step, choices, failure: failure) }
        while true {
            print("\(step): what now? " + choices.map(\.rawValue).joined(separator: " / ") + ": ", terminator: "")
            guard let answer = readLine()?.trimmingCharacters(in: .whitespaces) else { return .quit }
            if let choice = choices.first(where: { $0.rawValue == answer }) { return choice }
        }
    }
}
