import Executor
import RabbitSetup
import Foundation
import Workflow

/// The one place that turns errors and failed commands into words and exit codes.
public enum ErrorPresenter {
    /// The exit codes live in Workflow (``ExitStatus``): the screen exits with them too.
    public typealias Code = ExitStatus

    /// A message for the user and the exit code that goes with it.
    /// An error for the operator: printed once, by ``RabbitWizard/main()``, as `rabbit-wizard: MESSAGE`,
    /// and the process exits with `code`. Nothing prints it earlier, so the TUI can show it instead.
    public struct Failure: Error, CustomStringConvertible {
        public var message: String
        public var code: Code
        public var description: String { message }
    }

    public static func fail(_ message: String, code: Code) -> any Error { Failure(message: message, code: code) }

    public static func fail(_ error: any Error, code: Code) -> any Error { fail(describe(error), code: code) }

    public static func describe(_ error: any Error) -> String {
        switch error {
        case let e as HostName.Problem: return describe(e)
        case let e as SSHDestination.Problem:
            switch e {
            case .notSSHURL(let s): return "\(s) is not an ssh:// address"
            case .badUser(let u): return "user name \(u) is not valid (letters, digits, _ - . only)"
            case .badHost(let h, let p): return "host \(h): \(describe(p))"
            case .badPort(let p): return "port \(p) is not a number from 1 to 65535"
            }
        case let e as TopologyDraft.WriteError:
            switch e {
            case .cannotCreate(let p, EEXIST): return "cannot write \(p): it exists already (an existing file is never overwritten)"
            case .cannotCreate(let p, let code), .cannotWrite(let p, let code): return "cannot write \(p): \(String(cString: strerror(code)))"
            }
        case let e as StateDirectory.Problem:
            switch e {
            case .notADirectory(let p): return "state directory \(p) exists but is not a directory"
            case .isSymlink(let p): return "\(p) is a symlink; the wizard never follows one in its state directory. Fix: use a real directory (remove the link)"
            case .wrongOwner(let p, let uid): return "state directory \(p) belongs to uid \(uid), not to you"
            case .cannotCreate(let p, let e): return "cannot create \(p): \(String(cString: strerror(e)))"
            case .notPrivate(let p, let mode):
                return "state directory \(p) has mode \(String(mode, radix: 8)): other users could read the command log and journal "
                    + "(and the wizard never changes a folder it did not create). Fix: chmod 700 \(p), or choose a new folder with --state-dir"
            case .systemFolder(let p):
                return "\(p) is a system folder (or your home folder itself), never a state directory: the wizard would put its log, "
                    + "journal and lock there. Fix: choose a folder of its own, for example ~/.local/state/rabbit-wizard (the default)"
            }
        case let e as CommandLog.Problem:
            switch e {
            case .cannotOpen(let p, let e) where e == ELOOP: return "command log \(p) is a symlink; refusing to follow it"
            case .cannotOpen(let p, let e): return "cannot open command log \(p): \(String(cString: strerror(e)))"
            case .notARegularFile(let p): return "command log \(p) is not a regular file"
            case .wrongOwner(let p): return "command log \(p) belongs to another user"
            case .writeFailed(let p, let e): return "cannot write command log \(p): \(String(cString: strerror(e)))"
            }
        case let e as HostKeyProblem:
            switch e {
            case .scanFailed(let d, let t, let stderr):
                return "cannot read the host keys of \(d) (\(t)): \(stderr.trimmingCharacters(in: .whitespacesAndNewlines))"
            case .noKeys(let d): return "\(d) offered no host keys"
            case .alreadyEnrolledDifferently(let n):
                return "\(n) is already enrolled with a different key. If the server was really reinstalled, "
                    + "remove the old entry with ssh-keygen -R '\(n)' -f KNOWN_HOSTS after checking, then enrol again"
            case .fingerprintMismatch(let expected, let offered):
                return "the server does not offer \(expected) (it offers \(offered.joined(separator: ", "))): not enrolled"
            case .cannotWrite(let p, let e): return "cannot write \(p): \(String(cString: strerror(e)))"
            }
        case let e as ClusterLock.Problem: return describe(e)
        case let e as WorkflowError: return describe(e)
        case let e as TopologyError: return describe(e)
        case let e as JournalProblem: return describe(WorkflowError.journal(e))
        case let e as StepFailure: return PlanText.failure(e)
        case let e as Failure: return e.message
        case let e as UsageError: return e.message
        default: return String(describing: error)
        }
    }

    public static func describe(_ e: Sandbox.Problem, sandboxDir: String) -> String {
        switch e {
        case .rabbitmqMissing:
            return "the sandbox needs RabbitMQ from Debian: apt-get install rabbitmq-server (or run make demo, which installs it)"
        case .alreadyUp(let dir): return "a sandbox is already running in \(dir): use it, or rabbit-wizard sandbox down --dir \(dir)"
        case .noFreePorts: return "no free ports for the sandbox; pass --base-port"
        case .failed(let why): return "the sandbox did not start: \(why). Logs are in \(sandboxDir)/nodes/*/log"
        }
    }

    public static func describe(_ e: TopologyError) -> String {
        switch e {
        case .unreadable(let file, let why): return "cannot read the topology file \(file): \(why)"
        case .syntax(let file, let why): return "the topology file \(file) is not valid YAML: \(why)"
        case .invalid(let file, let problems):
            return "the topology file \(file) has \(problems.count) problem(s); nothing was run:\n"
                + problems.map { "  " + $0.description }.joined(separator: "\n")
        }
    }

    public static func describe(_ e: ClusterLock.Problem) -> String {
        switch e {
        case .held(let holder, let age, let place):
            return "another rabbit-wizard is working on this cluster: it holds the cluster lock \(place): "
                + "\(holder.map(String.init(describing:)) ?? "a holder whose lock cannot be read"), refreshed \(age) s ago. Nothing was changed. "
                + "Wait until it ends ('rabbit-wizard status' names it while it runs)"
        case .stale(let holder, let why, let place):
            return "a rabbit-wizard that is no longer running left the cluster lock \(place) "
                + "(\(holder.map(String.init(describing:)) ?? "holder unknown"); \(why)). Nothing was changed. "
                + "Check that it is really gone, then run again with --yes to take the lock over"
        case .unavailable(let place, let cause):
            return "cannot take the cluster lock \(place): \(cause). Nothing was changed: the wizard changes a cluster only while it holds "
                + "that lock, which keeps a second wizard (on any jump host) out. Make the seed's server reachable, then run again"
        }
    }

    /// The exit code of a cluster lock that could not be taken.
    public static func code(_ e: ClusterLock.Problem) -> Code {
        if case .unavailable = e { return .unreachable }
        return .locked
    }

    public static func describe(_ e: WorkflowError) -> String {
        switch e {
        case .unknownSteps(let ids, let valid):
            return "unknown step id(s): \(ids.map(\.rawValue).joined(separator: ", ")); the steps are: "
                + valid.map(\.rawValue).joined(separator: ", ")
        case .unknownFindings(let names, let valid):
            return "--waive: no step reports \(names.joined(separator: ", ")); the findings are: " + valid.joined(separator: ", ")
        case .nothingToRollBack(let id, let status):
            return "\(id) has nothing recorded to roll back (it is \(status.rawValue))"
        case .lock(.held(let holder)):
            return "another wizard is working on this state directory: \(holder.map(String.init(describing:)) ?? "holder unknown"). "
                + "Wait for it to finish"
        case .lock(.stale(let holder)):
            return "a wizard that is no longer running left its lock (\(holder.map(String.init(describing:)) ?? "holder unknown")). "
                + "Check that it is really gone, then run again with --yes to take the lock over"
        case .lock(.cannotOpen(let path, let err)) where err == ELOOP:
            return "the lock \(path) is a symlink; refusing to follow it. Fix: remove it (no wizard holds a symlink as its lock)"
        case .lock(.cannotOpen(let path, let err)):
            return "cannot open the lock \(path): \(String(cString: strerror(err)))"
        case .journal(.cannotWrite(let path, let err)):
            return "cannot write the journal \(path): \(String(cString: strerror(err))). Nothing more was changed; "
                + "free space or fix permissions, then run again"
        case .journal(.unreadable(let path)):
            return "cannot read the journal \(path)"
        case .journal(.corrupt(let file, let line, let reason)):
            return "the journal is damaged (\(file), line \(line): \(reason)) and is not trusted. Recover with "
                + "'rabbit-wizard journal repair': it keeps the damaged file and the entries before the damage; apply then "
                + "reconciles from what the servers show"
        case .journal(.truncated(let file, let valid)):
            return "the journal's last entry is cut off (\(file), after \(valid) good entries: a crash or a full disk while "
                + "writing). Recover with 'rabbit-wizard journal repair'; apply then reconciles from what the servers show"
        }
    }

    /// Words and exit code for how a run ended (nil while it has not ended). Pure: the CLI prints it, the
    /// TUI shows it.
    public static func summary(for state: RunnerState) -> (message: String, code: Code)? {
        guard let outcome = state.outcome else { return nil }
        switch outcome {
        case .completed:
            let done = state.statuses.values.filter { $0 == .done }.count
            let waiting = state.order.filter { state.statuses[$0] == .awaitingRestart }
            let owed = waiting.map { step in
                " \(step) is applied and takes effect at the restart round (restart owed on "
                    + state.owedRestarts.filter { $0.value.contains(step) }.keys.sorted().joined(separator: ", ") + ")."
            }.joined()
            let unchecked = state.order.compactMap { step in state.plans[step]?.unchecked.map { " \(step): \($0)." } }.joined()
            return (state.mode == .plan ? "Planned; nothing was changed." : "Done: \(done) of \(state.order.count) steps are done.\(owed)\(unchecked)", .success)
        case .rolledBack(let steps):
            return (steps.isEmpty ? "Nothing needed rolling back." : "Rolled back: \(steps.map(\.rawValue).joined(separator: ", ")).", .success)
        case .failed(let step, let failure) where state.mode == .plan:
            return ("\(step) could not be planned: \(PlanText.failure(failure)). Nothing was changed (plan is read-only).", .failed)
        case .failed(let step, let failure):
            let next = failure.outcomeUnknown ? " Its outcome is unknown: run 'rabbit-wizard status', then apply (reconciles) or rollback \(step)."
                : " Then: 'rabbit-wizard retry \(step)' or 'rabbit-wizard rollback \(step)'."
            return ("\(step) failed: \(PlanText.failure(failure)).\(next)", .failed)
        case .blocked(let step, let findings):
            let list = findings.map { PlanText.finding($0, indent: "  ") }.joined(separator: "\n")
            return ("\(step) is blocked by findings:\n\(list)\nFix them, or waive by name with --waive NAME.", .failed)
        case .stalePlan(let step, let reviewed, let now):
            return ("the plan of \(step) changed since it was reviewed (\(reviewed) -> \(now)): run 'rabbit-wizard plan' again", .staleOrDirty)
        case .needsConfirmation(let step, _):
            return ("\(step) needs confirmation: run in a terminal, or pass --yes", .needsConfirmation)
        case .quit(let step):
            if state.statuses[step] == .failed, state.toReconcile.isEmpty, state.attempts[step] == nil {
                return ("\(step) was interrupted in an earlier run and is not finished. Continue with 'rabbit-wizard apply --yes' "
                        + "or undo it with 'rabbit-wizard rollback \(step)'", .staleOrDirty)
            }
            let cause = state.failures[step].map { ": \(PlanText.failure($0))" } ?? ""
            if state.failures[step]?.outcomeUnknown == true {
                return ("stopped at \(step)\(cause). Its outcome is unknown: 'rabbit-wizard apply' reconciles it from what the servers "
                        + "show and goes on, or 'rabbit-wizard rollback \(step)'.", .failed)
            }
            return ("stopped at \(step)\(cause). Then: 'rabbit-wizard retry \(step)' or 'rabbit-wizard rollback \(step)'.", .failed)
        case .journalFailed(let problem):
            return (describe(WorkflowError.journal(problem)), .staleOrDirty)
        case .commandLogFailed(let problem):
            return ("\(describe(problem)): a command ran without its record, so the run stopped before anything more happens "
                    + "unrecorded. Free space there, then run 'rabbit-wizard status' and the same command again", .failed)
        case .interrupted(let next):
            return ("stopped by Ctrl-C at a safe point\(next.map { ", before \($0)" } ?? ""): nothing is half-done. "
                    + "Run the same command again to go on.", .interrupted)
        }
    }

    public static func describe(_ p: HostName.Problem) -> String {
        switch p {
        case .empty: return "empty host name"
        case .tooLong(let n): return "host name is \(n) bytes long; at most 253"
        case .badCharacter(let c): return "character \(c.debugDescription) is not allowed in a host name (letters, digits, - and . only)"
        case .badLabel(let l): return "label \(l.debugDescription) is not valid (1-63 characters, no leading or trailing -)"
        case .notCanonicalIPv4(let a):
            return "\(a) is not an IPv4 address in its plain form (four parts 0-255, no leading zeros: programs read 010 as 8 or as 10)"
        }
    }

    /// Words for a command's termination, with the next action where there is one.
    public static func describe(_ termination: Termination, target: String, knownHostsPath: String) -> String {
        switch termination {
        case .connectionFailed(.hostKeyUnknown(let prints)):
            let shown = prints.isEmpty ? "the server offered no key we could read" : prints.joined(separator: ", ")
            let fp = prints.first?.split(separator: " ").last.map(String.init) ?? "SHA256:..."
            return "the host key of \(target) is not known (\(shown)). Compare it with the server's own "
                + "(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the server), then enrol it: "
                + "rabbit-wizard known-hosts add \(target) --fingerprint \(fp)"
        case .connectionFailed(.hostKeyChanged(let fp)):
            return "STOP: the host key of \(target) has CHANGED (now \(fp ?? "unknown")). This can be a "
                + "reinstalled server or an attack. Nothing was run. Check with the server's administrator; "
                + "the trusted keys are in \(knownHostsPath)"
        case .connectionFailed(.unreachable(let reason)):
            return "\(target) is unreachable: \(reason). Check that the host is up, sshd listens on that port and no firewall blocks it"
        case .connectionFailed(.authenticationFailed(let reason)):
            return "\(target) refused our key: \(reason). Put the public key of --identity in the user's authorized_keys"
        case .connectionFailed(.lost(let reason)):
            return "the connection to \(target) was lost while the command ran (\(reason)); its outcome is unknown"
        case .timedOut(let s): return "the command did not finish within \(Int(s)) s; its process group was killed"
        case .couldNotStart(let reason): return "could not start the command: \(reason)"
        case .notRun(let reason): return "not run: \(reason)"
        case .exited(let code): return "the command exited with status \(code)"
        case .signaled(let signal): return "the command was killed by signal \(signal)"
        }
    }
}
