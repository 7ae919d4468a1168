import Testing

/// A sandbox that one suite's tests share: started before the suite's first test and removed after its
/// last, on every way out (``SandboxBed/with(nodes:basePort:loadBalancer:_:)``). A test reaches it through
/// ``bed``; running one test of the suite alone (`swift test --filter`) starts the sandbox for that test.
/// The tests of such a suite run one after the other in source order (`.serialized`), and each says what
/// state of the nodes it needs and leaves.
public struct SharedSandbox: SuiteTrait, TestScoping {
    let nodes: Int
    let basePort: Int
    let loadBalancer: String?

    /// Once for the suite, not around each test.
    public var isRecursive: Bool { false }

    @TaskLocal static var current: SandboxBed?

    /// The suite's sandbox.
    public static var bed: SandboxBed {
        get throws {
            guard let current else { throw SSHServer.Failure.setup("no shared sandbox here: the suite needs the .sharedSandbox(...) trait") }
            return current
        }
    }

    public func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        try await SandboxBed.with(nodes: nodes, basePort: basePort, loadBalancer: loadBalancer) { bed in
            try await Self.$current.withValue(bed) { try await function() }
        }
    }
}

extension Trait where Self == SharedSandbox {
    /// A sandbox of `nodes` real RabbitMQ nodes (and a load balancer of that kind) for the suite's tests;
    /// `basePort` is where the search for free ports starts.
    public static func sharedSandbox(nodes: Int, basePort: Int, loadBalancer: String? = nil) -> Self {
        SharedSandbox(nodes: nodes, basePort: basePort, loadBalancer: loadBalancer)
    }
}

extension SandboxBed {
    /// Fails the calling test unless every node runs alone (a fresh sandbox, or every step rolled back):
    /// `needing` says which test needs it, for the message.
    public func requireSeparate(_ needing: String) async throws {
        for l in letters {
            let seen = await runningNodes(seenFrom: l)
            try #require(seen?.running == [nodeName(l)],
                         "\(needing) needs every node running alone; \(l) sees \(String(describing: seen?.running)) (an earlier test of the suite left it so: run this test alone)")
        }
    }
}
