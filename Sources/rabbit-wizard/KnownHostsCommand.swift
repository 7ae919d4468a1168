import ArgumentParser
import Executor
import Foundation
import WizardCore

/// `rabbit-wizard known-hosts`: the tool's own known_hosts, separate from the user's.
struct KnownHostsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "known-hosts",
        abstract: "Show and enrol the ssh host keys the wizard trusts.",
        discussion: """
            The wizard checks every server's host key against its own known_hosts file in the state \
            directory. An unknown key is refused with its fingerprint; a changed key is a hard stop. \
            Compare the fingerprint with the server's own (on the server: \
            ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then enrol it:

              rabbit-wizard known-hosts add ssh://admin@ServerA --fingerprint SHA256:...
            """,
        subcommands: [Add.self, List.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fetch a server's host keys and trust them after you confirm the fingerprint.")

        @Argument(help: ArgumentHelp("The server, as ssh://[user@]host[:port].", valueName: "TARGET"))
        var target: String

        @Option(help: ArgumentHelp("Trust only if the server offers a key with this fingerprint.", valueName: "SHA256:..."))
        var fingerprint: String?

        @Flag(help: "Trust whatever the server offers now, without asking (only on a network you trust).")
        var yes = false

        @OptionGroup var state: StateOptions

        func run() async throws {
            let destination: SSHDestination
            do { destination = try SSHDestination(url: target) } catch {
                throw ValidationError("TARGET \(target): \(ErrorPresenter.describe(error)). Use ssh://user@host:port.")
            }
            let (stateDir, executor) = try state.open()
            let keys: [HostKey]
            switch await executor.scanHostKeys(of: destination) {
            case .success(let k): keys = k
            case .failure(let problem): throw ErrorPresenter.fail(problem, code: .unreachable)
            }
            print("\(destination) offers:")
            for key in keys { print("  \(key.fingerprintLabel)") }
            if fingerprint == nil && !yes {
                guard isatty(0) == 1 else {
                    throw ErrorPresenter.fail(
                        "not enrolled: confirm with --fingerprint SHA256:... (compare with the server's own) or --yes",
                        code: .needsConfirmation)
                }
                print("Do these match the server's own fingerprints? Type yes to trust them: ", terminator: "")
                guard readLine()?.trimmingCharacters(in: .whitespaces) == "yes" else {
                    throw ErrorPresenter.fail("not enrolled: not confirmed", code: .needsConfirmation)
                }
            }
            switch executor.enrol(keys, for: destination, expectedFingerprint: fingerprint, knownHostsPath: stateDir.knownHostsPath) {
            case .success: print("Enrolled in \(stateDir.knownHostsPath).")
            case .failure(let problem): throw ErrorPresenter.fail(problem, code: .unreachable)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the enrolled host keys with their fingerprints.")

        @OptionGroup var state: StateOptions

        func run() async throws {
            let (stateDir, executor) = try state.open()
            guard let text = try? String(contentsOfFile: stateDir.knownHostsPath, encoding: .utf8), !text.isEmpty else {
                print("No host keys enrolled yet (\(stateDir.knownHostsPath)).")
                return
            }
            let result = await executor.run(CommandSpec(["ssh-keygen", "-l", "-f", stateDir.knownHostsPath], timeout: .seconds(10), mutates: false))
            print(result.stdout, terminator: "")
        }
    }
}
