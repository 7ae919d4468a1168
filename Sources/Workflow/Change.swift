/// One change a step would make, as data. Front ends render it; nobody decides from the rendering.
public struct Change: Sendable, Codable, Equatable {
    public enum Action: String, Sendable, Codable {
        case add = "+", modify = "~", remove = "-", run = "run"
    }

    public var action: Action
    /// What changes: `ServerB:/etc/rabbitmq/rabbitmq.conf`, `rabbit@ServerB: join rabbit@ServerA`.
    public var target: String
    public var node: String?
    public var summary: String
    /// Text before and after (for files, the whole content); nil when there is none or it is secret.
    public var before: String?
    public var after: String?
    /// A secret change: only "changed" is ever shown.
    public var secret: Bool
    /// Set when the change destroys something; the words name what is lost.
    public var destructive: String?
    /// What the change means to its step (for `apply`), when the step needs more than the node to act on it.
    public var detail: ChangeDetail?
    /// Set when the change restarts a node's RabbitMQ (its Erlang VM or its service); the words say why.
    /// Absent from the plan's JSON when nil.
    public var restart: String?

    public init(_ action: Action, target: String, node: String? = nil, summary: String, before: String? = nil,
                after: String? = nil, secret: Bool = false, destructive: String? = nil, detail: ChangeDetail? = nil,
                restart: String? = nil)
    {
        self.action = action
        self.target = target
        self.node = node
        self.summary = summary
        self.before = secret ? nil : before
        self.after = secret ? nil : after
        self.secret = secret
        self.destructive = destructive
        self.detail = detail
        self.restart = restart
    }
}
