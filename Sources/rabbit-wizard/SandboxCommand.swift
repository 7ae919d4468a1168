import ArgumentParser
import Executor
import Foundation
import RabbitSetup
import WizardCore

/// `rabbit-wizard sandbox up|down|status`: real RabbitMQ nodes on loopback to try the wizard on.
struct SandboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Start, show or remove a loopback sandbox of real RabbitMQ nodes.",
        discussion: """
            The sandbox is the wizard's built-in playground: N real RabbitMQ nodes on 127.0.0.1, each with \
            its own node name, ports, data, config file and its own random Erlang cookie, exactly as separate \
            servers are before the procedure. It writes DIR/topology.yml; give it to the other commands:

              rabbit-wizard sandbox up
              rabbit-wizard apply --config ~/.local/state/rabbit-wizard/sandbox/topology.yml
              rabbit-wizard sandbox down

            Needs the Debian package rabbitmq-server (apt-get install rabbitmq-server).
            """,
        subcommands: [Up.self, Down.self, Status.self])

    static func defaultDir() -> String {
        let env = ProcessInfo.processInfo.environment
        if let xdg = env["XDG_STATE_HOME"], xdg.hasPrefix("/") { return xdg + "/rabbit-wizard/sandbox" }
        return (env["HOME"] ?? NSHomeDirectory()) + "/.local/state/rabbit-wizard/sandbox"
    }

    struct Location: ParsableArguments {
        @Option(help: ArgumentHelp("The sandbox folder (default ~/.local/state/rabbit-wizard/sandbox).", valueName: "DIR"))
        var dir: String?

        var path: String {
            let d = dir ?? SandboxCommand.defaultDir()
            return d.hasPrefix("/") ? d : FileManager.default.currentDirectoryPath + "/" + d
        }

        func sandbox() throws -> Sandbox {
            do {
                let state = try StateDirectory(path: path + "/state")
                return Sandbox(dir: path, executor: try Executor(state: state))
            } catch { throw ErrorPresenter.fail(error, code: .badInput) }
        }
    }

    struct Up: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start N nodes (default 3) and write DIR/topology.yml.")

        @Option(help: ArgumentHelp("How many nodes (2-9).", valueName: "N")) var nodes = 3
        @Option(name: .customLong("base-port"), help: ArgumentHelp("First AMQP port to try (default 5701).", valueName: "PORT"))
        var basePort: Int?
        @Option(help: ArgumentHelp("Also write a load balancer (\(LoadBalancerKinds.names)) into the topology, on the port below the first node's.",
                                   valueName: "KIND"))
        var lb: String?
        @OptionGroup var location: Location

        func validate() throws {
            if let lb, LoadBalancerKinds.named(lb) == nil { throw ValidationError("--lb must be \(LoadBalancerKinds.names), got \(lb)") }
            guard (2...9).contains(nodes) else { throw ValidationError("--nodes must be 2 to 9, got \(nodes)") }
            if let basePort, !(1024...45000).contains(basePort) { throw ValidationError("--base-port must be 1024 to 45000, got \(basePort)") }
        }

        func run() async throws {
            let sandbox = try location.sandbox()
            do {
                let topology = try await sandbox.up(count: nodes, basePort: basePort, loadBalancer: lb.flatMap(LoadBalancerKinds.named)) {
                    print("  ... \($0)")
                }
                for n in topology.nodes { print("  \(n.nodeName)  amqp 127.0.0.1:\(n.amqpPort)  folder \(n.sandboxDir!)") }
                print("Sandbox up: \(topology.nodes.count) separate nodes, each with its own cookie.")
                if let lb = topology.loadBalancer { print("Load balancer (\(lb.kindName)) will listen on \(lb.listenAddress):\(lb.listenPort) once applied.") }
                print("Next: rabbit-wizard apply --config \(sandbox.topologyPath)")
            } catch {
                throw ErrorPresenter.fail(ErrorPresenter.describe(error, sandboxDir: location.path), code: .failed)
            }
        }
    }

    struct Down: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop the sandbox's nodes by their recorded PIDs and remove its data.")
        @OptionGroup var location: Location

        func run() async throws {
            guard FileManager.default.fileExists(atPath: location.path) else {
                print("No sandbox in \(location.path).")
                return
            }
            try await location.sandbox().down()
            print("Sandbox in \(location.path) stopped and removed.")
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the sandbox's nodes.")
        @OptionGroup var location: Location

        func run() async throws {
            let nodes = try location.sandbox().status()
            if nodes.isEmpty { print("No sandbox in \(location.path).") }
            for n in nodes {
                print("\(n.name)  \(n.running ? "running" : "stopped")  pid \(n.pid.map(String.init) ?? "-")  amqp \(n.amqpPort.map(String.init) ?? "-")")
            }
        }
    }
}
