import Foundation

/// What the command log keeps of one command. Everything in it is already scrubbed of secrets.
public struct CommandRecord: Sendable, Codable, Equatable {
    public var id: String
    public var step: StepID?
    public var target: String
    /// argv with known secrets scrubbed (argv should never hold one; this is a second line of defence).
    public var argv: [String]
    public var mutates: Bool
    public var stdin: String?
    public var started: Date
    public var durationSeconds: Double
    public var termination: Termination
    public var pid: Int32?
    public var stdoutTail: String
    public var stderrTail: String
    public var stdoutBytes: Int
    public var stderrBytes: Int
    /// For a request answered over a long-lived channel (``Channel``): which one; argv then holds the
    /// request's words. Nil for a command.
    public var via: String? = nil
}
