#!/usr/bin/env python3
"""An AMQP client independent of rabbit-wizard, for the tests' and the benchmark's own counts.

As a program: opens a new connection to HOST:PORT every 100 ms for SECONDS, each an AMQP 0-9-1 protocol
header answered by Connection.Start (frame type 1, channel 0, class 10, method 10), and prints one JSON line:
attempts, failed, longest failing stretch in ms, slowest successful handshake in ms. bench/bench.py imports
`hello`."""
import json, socket, struct, sys, time


def hello(host, port, timeout):
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"AMQP\x00\x00\x09\x01")
            head = b""
            while len(head) < 11:
                chunk = s.recv(11 - len(head))
                if not chunk:
                    return False
                head += chunk
            kind, channel, _size, cls, method = struct.unpack(">BHIHH", head)
            return kind == 1 and channel == 0 and cls == 10 and method == 10
    except OSError:
        return False


def main():
    host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    end = time.monotonic() + seconds
    attempts = failed = 0
    longest = slowest = 0.0
    failing_since = None
    while time.monotonic() < end:
        t = time.monotonic()
        ok = hello(host, port, 5.0)
        took = time.monotonic() - t
        attempts += 1
        if ok:
            slowest = max(slowest, took)
            failing_since = None
        else:
            failed += 1
            failing_since = t if failing_since is None else failing_since
            longest = max(longest, time.monotonic() - failing_since)
        time.sleep(max(0.0, 0.1 - took))
    print(json.dumps({"attempts": attempts, "failed": failed, "longest_failing_ms": round(longest * 1000),
                      "slowest_ms": round(slowest * 1000)}))


if __name__ == "__main__":
    main()
