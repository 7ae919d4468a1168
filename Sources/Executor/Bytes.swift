import Foundation

/// Sizes for people: "812 bytes", "14.2 KiB", "3.1 MiB".
public enum Bytes {
    public static func words(_ bytes: Int) -> String {
        if bytes < 1024 { return "\(bytes) bytes" }
        if bytes < 1_048_576 { return String(format: "%.1f KiB", Double(bytes) / 1024) }
        return String(format: "%.1f MiB", Double(bytes) / 1_048_576)
    }
}
