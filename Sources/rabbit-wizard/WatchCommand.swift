import ArgumentParser
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

            Exit status: 0 when no connection failed, 1 when some did.

            Example:
              rabbit-wizard watch --seconds 60 --config topology.yml
            """)

    @OptionGroup var options: WorkflowOptions
    @Option(help: ArgumentHelp("How long to measure (1 to 3600).", valueName: "SECONDS")) var seconds = 30
    @Flag(help: "Print the result as JSON.") var json = false

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
        if !json { print("watching \(lb.clientHost):\(lb.listenPort) (\(lb.kind.name)) for \(seconds) s: a new AMQP connection every 100 ms") }
        loop.start()
        let clock = ContinuousClock()
        let end = clock.now.advanced(by: .seconds(seconds))
        var next = clock.now.advanced(by: .seconds(5))
        while clock.now < end && !Interruption.requested {
            try? await Task.sleep(for: .milliseconds(100))
            if clock.now >= next && clock.now < end {
                next = next.advanced(by: .seconds(5))
                if !json { print("  " + Self.line(loop.snapshot)) }
            }
        }
        let stats = loop.stop()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(stats), as: UTF8.self))
        } else {
            print((Interruption.requested ? "stopped early: " : "") + Self.line(stats))
        }
        if stats.failed > 0 { throw ExitCode(1) }
    }

    static func line(_ s: ConnectionLoop.Stats) -> String {
        "\(s.attempts) new connections, \(s.failed) failed, slowest handshake \(s.worstMilliseconds) ms, longest failing stretch \(s.longestOutageMilliseconds) ms"
    }
}
