import ArgumentParser
import Executor
import Foundation
import RabbitSetup
import WizardCore

/// `rabbit-wizard watch`: what clients see through the load balancer while the operator disrupts the
/// cluster by hand. Read-only.
struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Measure what clients see through the load balancer while you disrupt the cluster. Read-only.",
        discussion: """
            Opens a new AMQP connection through the topology's load balancer every 100 ms (the protocol \
            header, answered by Connection.Start; 3 s each at most) and changes nothing. Meanwhile do what \
            the failover drill does not: pull a server's cable, reboot it, change a firewall. Every 5 s a \
            line shows the numbers so far; at the end: new connections, failed, the slowest handshake and \
            the longest stretch during which connections failed. Ctrl-C ends early and still prints them.

            With --messages it also does what an OutSystems front end does: a publisher sends a numbered \
            cache invalidation message to a fanout exchange every 100 ms and a subscriber (an exclusive \
            queue bound to it) receives them, each on a long-lived connection through the load balancer with \
            a 2 s heartbeat, each connecting again (and declaring again) when its connection is lost. It \
            adds the failover drill's own vhost and user (a random password, never kept) on the seed for \
            that, and removes them at the end, Ctrl-C included: start it before you pull a cable (RabbitMQ \
            cannot change users while a node is silent and not yet declared down). Counted: messages sent, lost (sent and \
            never delivered: one sent while no subscriber queue exists is lost by design of exclusive \
            queues, as OutSystems loses it), the longest gap between deliveries, the subscriber's longest \
            reconnect, and how many of the sent RabbitMQ acknowledged (publisher confirms).

            Exit status: 0 when no connection failed and messages never stopped for longer than --max-gap; \
            1 otherwise.

            Examples:
              rabbit-wizard watch --seconds 60 --config topology.yml
              rabbit-wizard watch --seconds 60 --messages --max-gap 5 --config topology.yml
            """)

    @OptionGroup var options: WorkflowOptions
    @Option(help: ArgumentHelp("How long to measure (1 to 3600).", valueName: "SECONDS")) var seconds = 30
    @Flag(help: "Also send and receive invalidation messages through the load balancer (adds the drill's user for the time).")
    var messages = false
    @Flag(help: "Print the result as JSON.") var json = false

    /// What `--json` prints: the new connections' numbers, and the messages' with `--messages`.
    struct Result: Encodable {
        var connections: ConnectionLoop.Stats
        var messages: MessagePath.Stats?

        func encode(to encoder: any Encoder) throws {
            try connections.encode(to: encoder)
            var c = encoder.container(keyedBy: Key.self)
            try c.encodeIfPresent(messages, forKey: .messages)
        }

        enum Key: String, CodingKey { case messages }
    }

    func validate() throws {
        guard (1...3600).contains(seconds) else { throw ValidationError("--seconds \(seconds): give 1 to 3600") }
    }

    func run() async throws {
        let session = try await Session.open(options)
        guard let lb = session.topology?.loadBalancer else {
            throw ErrorPresenter.fail("the topology has no load_balancer: watch measures through it (add one, or use the failover drill's nodes directly)",
                                      code: .badInput)
        }
        let loop = ConnectionLoop(probe: AMQPProbe(host: lb.clientHost, port: lb.listenPort, timeout: .seconds(3)))
        Interruption.install()
        if !json { print("watching \(lb.clientHost):\(lb.listenPort) (\(lb.kindName)) for \(seconds) s: a new AMQP connection every 100 ms"
                         + (messages ? ", and a message every 100 ms from a publisher to a subscriber" : "")) }
        var path: MessagePath?
        var account: DrillAccount?
        if messages, let topology = session.topology {
            let json = self.json
            do {
                account = try await DrillAccount.add(on: RabbitNode(topology.seed, executor: session.executor, step: "watch")) {
                    if !json { print("  ... \($0)") }
                }
            } catch {
                throw ErrorPresenter.fail("--messages: " + ErrorPresenter.describe(error), code: .failed)
            }
            path = MessagePath(endpoint: account!.endpoint(through: lb), heartbeat: topology.drill.heartbeat)
            path?.start()
        }
        loop.start()
        let clock = ContinuousClock()
        let end = clock.now.advanced(by: .seconds(seconds))
        var next = clock.now.advanced(by: .seconds(5))
        while clock.now < end && !Interruption.requested {
            try? await Task.sleep(for: .milliseconds(100))
            if clock.now >= next && clock.now < end {
                next = next.advanced(by: .seconds(5))
                if !json { print("  " + Self.line(loop.snapshot, path?.snapshot)) }
            }
        }
        let stats = loop.stop()
        let sent = path?.stop()
        await account?.remove()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(Result(connections: stats, messages: sent)), as: UTF8.self))
        } else {
            print((Interruption.requested ? "stopped early: " : "") + Self.line(stats, sent))
        }
        let limit = ConnectionLoop.milliseconds(options.drill?.maxGap ?? DrillSettings().maxGap)
        if stats.failed > 0 || (sent.map { $0.longestGapMilliseconds > limit || $0.delivered == 0 } ?? false) { throw ExitCode(1) }
    }

    static func line(_ s: ConnectionLoop.Stats, _ m: MessagePath.Stats?) -> String {
        "\(s.attempts) new connections, \(s.failed) failed, slowest handshake \(s.worstMilliseconds) ms, longest failing stretch \(s.longestOutageMilliseconds) ms"
            + (m.map { m in
                "; messages: \(m.published) sent, \(m.confirmed) acked, \(m.lost) lost, longest gap \(m.longestGapMilliseconds) ms, "
                    + (m.subscriberDisconnects == 0 ? "subscriber never disconnected" : "subscriber reconnected within \(m.reconnectMilliseconds) ms")
            } ?? "")
    }
}
