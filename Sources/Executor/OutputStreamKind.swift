/// Which of a command's output streams a line came from.
public enum OutputStreamKind: String, Sendable, Codable {
    case stdout, stderr
}
