// swift-tools-version: 6.2
// Swift 6 language mode is the default for tools version 6.2.
import PackageDescription

let package = Package(
    name: "rabbit-wizard",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "rabbit-wizard", targets: ["rabbit-wizard"]),
        .executable(name: "rabbit-wizard-bench", targets: ["rabbit-wizard-bench"]),
    ],
    dependencies: [
        // Minor releases of swift-subprocess may raise the required toolchain: pin to 1.0.x.
        .package(url: "https://github.com/swiftlang/swift-subprocess", .upToNextMinor(from: "1.0.2")),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // The topology file is written by hand: YAML, with line numbers in errors.
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // ncursesw through a shim header (see Sources/CNcurses/shim.h for why).
        .systemLibrary(name: "CNcurses", path: "Sources/CNcurses"),
        // The system's OpenSSL (libssl-dev) through a shim header (Sources/CTLS/shim.h): certificates and keys
        // checked before anything is written. A system library builds nothing: no CI minutes.
        .systemLibrary(name: "CTLS", path: "Sources/CTLS"),
        // Runs every command (local or ssh), streams, times out, scrubs secrets, logs.
        .target(
            name: "Executor",
            dependencies: [
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Steps, plans, journal, runner. Pure: uses Executor's types only.
        .target(name: "Workflow", dependencies: ["Executor"]),
        // Topology, platform profiles, the concrete RabbitMQ and load-balancer steps, the sandbox.
        .target(name: "RabbitSetup", dependencies: ["Workflow", "Executor", "CTLS", .product(name: "Yams", package: "Yams")]),
        // The ncurses front end: state, actions, render, the one screen type.
        .target(name: "WizardTUI", dependencies: ["Workflow", "CNcurses"]),
        // The application core both front ends call: a session opened once (topology, state directory,
        // executor, steps), its runs and locks, errors in words. No argument parsing, no screen.
        .target(name: "WizardCore", dependencies: ["Executor", "Workflow", "RabbitSetup"]),
        .executableTarget(
            name: "rabbit-wizard",
            dependencies: [
                "Executor", "Workflow", "RabbitSetup", "WizardTUI", "WizardCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // make bench: the executor's cost per command against a bare posix_spawn.
        .executableTarget(name: "rabbit-wizard-bench", dependencies: ["Executor"]),
        // Shared by the test targets: process helpers, a real sshd, and the steps' conformance suite
        // (check/plan read-only, plan stable, apply converges, rollback exact).
        .target(name: "TestKit", dependencies: ["Workflow", "Executor"], path: "Tests/TestKit"),
        // The fast layer (`make check`): no root, no service, no network, nothing beyond the toolchain.
        .testTarget(name: "ExecutorTests", dependencies: ["Executor", "Workflow", "TestKit", "rabbit-wizard"]),
        .testTarget(name: "WorkflowTests", dependencies: ["Workflow"]),
        .testTarget(name: "WizardCoreTests", dependencies: ["WizardCore", "RabbitSetup", "Workflow", "Executor", "TestKit"]),
        .testTarget(name: "WizardTUITests", dependencies: ["WizardTUI", "Workflow"], exclude: ["Snapshots"]),
        .testTarget(name: "RabbitSetupTests", dependencies: ["RabbitSetup", "Workflow", "Executor", "TestKit", "WizardTUI", "rabbit-wizard"], exclude: ["Golden"]),
        // The scenario layer (the rest of `make test`): root, real RabbitMQ, nginx, HAProxy, sshd, tmux, strace,
        // network namespaces, the PyPI tools, the package build.
        .testTarget(name: "ScenarioTests", dependencies: ["RabbitSetup", "Workflow", "Executor", "TestKit", "rabbit-wizard"]),
    ]
)
