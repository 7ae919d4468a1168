/// Wraps a transport so that only read-only commands (`mutates == false`) run; a mutating command
/// is reported as ``Termination/notRun(reason:)`` and still logged by the executor.
public struct DryRunTransport: Transport {
    public let inner: any Transport

    public init(wrapping inner: any Transport) { self.inner = inner }

    public func run(_ spec: CommandSpec, limits: OutputLimits, redactor: Redactor, onStart: @escaping @Sendable (Int32) -> Void,
                    onLine: @escaping @Sendable (OutputStreamKind, String) -> Void) async -> TransportOutcome
    {
        guard !spec.mutates else { return TransportOutcome(termination: .notRun(reason: "dry run")) }
        return await inner.run(spec, limits: limits, redactor: redactor, onStart: onStart, onLine: onLine)
    }
}
