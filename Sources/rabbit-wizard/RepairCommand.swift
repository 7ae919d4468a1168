import ArgumentParser
import Foundation
import RabbitSetup
import WizardCore
import Workflow

/// `rabbit-wizard repair partition`: the guided repair of a network partition that did not heal by itself.
struct RepairCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair",
        abstract: "Repair what did not heal by itself (a network partition).",
        subcommands: [Partition.self])

    struct Partition: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "partition",
            abstract: "Restart the losing side of a network partition that has not healed, and verify the cluster is whole.",
            discussion: """
                Reads cluster_status from every node and, when the nodes are split (each side runs without the \
                other) or RabbitMQ recorded a partition that is still there (partition_handling ignore, or an \
                autoheal that loops, as RabbitMQ 3.10 can), proposes which side to restart, by the rule of the \
                configured strategy, with every node's own view as evidence. After the typed confirmation it reads \
                every node again (not with --yes, which does not wait) and, if the repair would still restart the \
                same nodes, restarts that side as RabbitMQ's partitions guide recovers: it stops every node of the \
                side, then starts them one at a time (each rejoins and takes the kept side's state); a kept node that \
                still records the partition afterwards is restarted too, one at a time (the guide's last step). It \
                waits until every node sees every other with no partition recorded: only then it says "repaired". \
                Each stop and start is in the journal: a repair cut off after a stop is finished by the next one, \
                which starts what it stopped first.

                What changed only on the restarted side since the split is lost: it takes the kept side's data. \
                A node that cannot be read is not guessed about: the repair refuses and says what to do first.

                Exit status: 0 repaired, or nothing to repair (said); 1 not repaired or refused; 3 not confirmed \
                (no terminal; pass --yes).

                Example:
                  rabbit-wizard status --config topology.yml
                  rabbit-wizard repair partition --config topology.yml
                """)

        @OptionGroup var options: WorkflowOptions
        @Flag(help: "Restart the proposed side without asking.") var yes = false
        @Option(name: .customLong("keep-side-of"), help: ArgumentHelp(
            "Keep the side of this node (its Erlang name, e.g. rabbit@ServerA) instead of the proposed one.", valueName: "NODE"))
        var keepSideOf: String?

        func run() async throws {
            let session = try await Session.open(options)
            guard let topology = session.topology else {
                throw ErrorPresenter.fail("repair partition needs a topology (--config FILE)", code: .badInput)
            }
            if let keepSideOf, !topology.nodes.contains(where: { $0.nodeName.description == keepSideOf }) {
                throw ErrorPresenter.fail("--keep-side-of \(keepSideOf) is not a node of the topology: give one of "
                                          + topology.nodes.map(\.nodeName.description).joined(separator: ", "), code: .badInput)
            }
            let progress: @Sendable (String) -> Void = { print("  ... \($0)") }
            let locks = try await session.lock(command: "repair partition", takeOverStale: yes, progress: progress)
            do {
                try await repair(session, topology, locks: locks, progress: progress)
            } catch {
                await locks.release(progress: progress)
                await session.executor.shutdown()
                throw error
            }
            await locks.release(progress: progress)
            await session.executor.shutdown()
        }

        /// Under the locks: read every node's view, decide, confirm, restart the losing side, verify.
        private func repair(_ session: Session, _ topology: Topology, locks: Session.RunLocks, progress: @escaping @Sendable (String) -> Void) async throws {
            Interruption.install()
            print("reading cluster_status from \(topology.nodes.count) nodes ...")
            let proposal = try await session.proposeRepair(keepSideOf: keepSideOf)
            let view = proposal.view
            let decision: PartitionRepair.Decision
            switch proposal.decision {
            case .success(let d): decision = d
            case .failure(let refusal):
                guard case .nothingToRepair = refusal else { throw ErrorPresenter.fail(refusal.message, code: .failed) }
                print(refusal.message)
                return
            }
            print("cluster: \(view.summary(strategy: topology.partitionHandling))")
            print("what each node sees:")
            for line in decision.evidence { print("  \(line)") }
            print("rule: \(decision.rule)")
            print("keep running: \(decision.keep.joined(separator: ", "))")
            if decision.startOnly {
                print("start (a repair that was cut off stopped them): \(decision.restart.joined(separator: ", "))")
            } else {
                print("restart (stop them all, then start them): \(decision.restart.joined(separator: ", "))")
                print("then a kept node that still records the partition restarts, one at a time (the partitions guide's last step)")
                print("This DESTROYS: what changed only on \(decision.restart.joined(separator: ", ")) since the split (it takes the kept side's data).")
            }
            if !yes {
                guard isatty(0) == 1 else {
                    throw ErrorPresenter.fail("repair partition restarts nodes: run it in a terminal to confirm, or pass --yes", code: .needsConfirmation)
                }
                print("Type restart to go ahead: ", terminator: "")
                guard readLine()?.trimmingCharacters(in: .whitespaces) == "restart" else {
                    throw ErrorPresenter.fail("not confirmed: nothing was restarted", code: .needsConfirmation)
                }
            }
            if Interruption.requested {
                throw ErrorPresenter.fail("stopped by Ctrl-C before any restart", code: .interrupted)
            }
            // With --yes nothing waited between the reading and now: the decision is as fresh as a second read.
            let after = try await session.repair(decision, readAgain: !yes, keepSideOf: keepSideOf, locks: locks, progress: progress)
            print(PartitionRepair.repaired(after, topology))
        }
    }
}
