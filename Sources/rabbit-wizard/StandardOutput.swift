@preconcurrency import Glibc

enum StandardOutput {
    /// Line-buffered stdout, also into a pipe or a file: `apply --yes | tee run.log` shows each progress
    /// line when it happens (stdio buffers 4 KiB otherwise). Called once, first thing in `main`.
    static func lineBuffered() { setvbuf(stdout, nil, _IOLBF, 0) }
}
