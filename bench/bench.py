#!/usr/bin/env python3
"""make bench: how fast and how light rabbit-wizard is, against the seed guide followed literally, the
leanest bare sequence, and the floor. Writes bench/results/latest.json and bench/results/latest.md.

Every apply runs on a fresh loopback sandbox of real RabbitMQ nodes (made by `rabbit-wizard sandbox up`),
timed from the first command to the last; sandbox creation and removal are not timed. Variants are
interleaved (wizard, literal, lean, wizard, ...) so that drift hits all of them alike.
Environment: BENCH_RUNS (default 3) runs per measurement, also for 4 and 5 nodes (BENCH_SCALING_RUNS).
BENCH_ONLY=package measures only the package (make dist): sizes and the cold start of `--version`, written to
bench/results/package.{json,md}. BENCH_ONLY=connections measures only the node connections against the CLI
alone (status, Erlang VM starts, 2- and 3-node applies with the lean sequence, the re-run, the screen on the
formed cluster), written to bench/results/connections.{json,md}. BENCH_ONLY=zero-downtime measures only the
applies without restarts (VM restarts, the seed's independent client, wizard/lean in the same run), written to
bench/results/zero-downtime.{json,md}; the full run measures it too. BENCH_ONLY=drill measures only the
invalidation messages through a hard kill of each node (the failover drill in `hard` mode, behind nginx and behind
HAProxy), written to bench/results/drill.{json,md}; the full run measures it too.
"""
import json, os, platform, re, shutil, statistics, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from amqp_client import hello as amqp_hello  # the independent client the bed test uses too
BIN = os.path.join(ROOT, ".build/release/rabbit-wizard")
BENCH_BIN = os.path.join(ROOT, ".build/release/rabbit-wizard-bench")
HERE = os.path.join(ROOT, "bench")
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
SCALING_RUNS = int(os.environ.get("BENCH_SCALING_RUNS", str(RUNS)))
BASE_PORT = 6201
started = time.monotonic()


def source():
    """The commit measured, and whether the tree had changes not in it (then the figures are not that commit's)."""
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip() != ""
    return {"commit": commit, "dirty": dirty}


def measured_line(r):
    """The first words of every result file: when, what and where."""
    src = r.get("source", {"commit": "unknown", "dirty": True})
    return (f"Measured {r['date']} at commit {src['commit'][:12]}{' with uncommitted changes' if src['dirty'] else ''} "
            f"on {r['machine']['cpu']}, {r['machine']['cores']} cores")


def log(msg):
    print(f"[{time.monotonic() - started:6.0f}s] {msg}", flush=True)


def run(argv, check=True, timeout=900, **kw):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv)} exited {p.returncode}:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return p


def timed(argv, **kw):
    t = time.monotonic()
    p = run(argv, **kw)
    return time.monotonic() - t, p


class Sandbox:
    def __init__(self, nodes, lb="nginx"):
        self.nodes = nodes
        self.dir = tempfile.mkdtemp(prefix=f"rw-bench-{nodes}-")
        os.rmdir(self.dir)
        run([BIN, "sandbox", "up", "--dir", self.dir, "--nodes", str(nodes), "--base-port", str(BASE_PORT), "--lb", lb])
        self.topology = os.path.join(self.dir, "topology.yml")

    def wizard(self, *args, **kw):
        return timed([BIN, *args, "--config", self.topology], **kw)

    def running_nodes(self):
        out = run([f"{self.dir}/nodes/a/bin/rabbitmqctl", "-n", "rabbit-a@localhost", "cluster_status", "--formatter", "json"]).stdout
        return sorted(json.loads(out)["running_nodes"])

    def down(self):
        run([BIN, "sandbox", "down", "--dir", self.dir], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


class Teardown:
    """Removes sandboxes in the background while the next one starts (neither is timed); waits for them
    before a timed run begins, so a measurement never shares the machine with a teardown."""

    def __init__(self):
        self.threads = []

        self.failures = []

    def later(self, box, check=None):
        """Removes `box` in the background, after `check(box)` (a correctness check, not timed) if given."""
        def work():
            try:
                if check:
                    check(box)
            except BaseException as e:
                self.failures.append(str(e))
            finally:
                box.down()
        t = threading.Thread(target=work)
        t.start()
        self.threads.append(t)

    def wait(self):
        for t in self.threads:
            t.join()
        self.threads = []
        if self.failures:
            raise SystemExit("bench: " + "; ".join(self.failures))


teardown = Teardown()


def formed(variant, nodes):
    """The check that a run really formed the cluster (run in the background, before the teardown)."""
    def check(box):
        want = [f"rabbit-{chr(97 + i)}@localhost" for i in range(nodes)]
        seen = box.running_nodes()
        if seen != want:
            raise RuntimeError(f"{variant} on {nodes} nodes did not form the cluster: {seen}")
    return check


def apply_once(variant, nodes):
    """One apply on a fresh sandbox; returns seconds and the sandbox (the caller checks and removes it)."""
    box = Sandbox(nodes)
    teardown.wait()
    try:
        if variant == "wizard":
            seconds, _ = box.wizard("apply", "--yes")
        else:
            seconds, _ = timed([os.path.join(HERE, f"{variant}.sh"), box.dir, str(nodes)])
        return seconds, box
    except BaseException:
        box.down()
        raise


def stats(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": values}


DRILL_ROW = re.compile(r"\s+(rabbit-\w@localhost)\s+(\d+)\s+(\d+)\s+(\d+) ms\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+) s\s+(?:([\d.]+) s|-)\s+(?:([\d.]+) s|no)$")


def drill(box, kind, mode="graceful"):
    """One failover drill through the load balancer: per node, new connections every 100 ms and invalidation
    messages (a publisher and a subscriber placed on the node) while the node fails (`mode`) and comes back."""
    seconds, p = box.wizard("apply", "--yes", "--only", "failover-drill", "--drill-mode", mode, check=False)
    rows = []
    for line in p.stdout.splitlines():
        m = DRILL_ROW.match(line)
        if m:
            rows.append({"node": m[1], "attempts": int(m[2]), "failed": int(m[3]), "worst_ms": int(m[4]), "sent": int(m[5]), "acked": int(m[6]),
                         "lost": int(m[7]), "gap_s": float(m[8]), "reconnect_s": float(m[9]) if m[9] else None, "back_s": float(m[10]) if m[10] else None})
    if not rows:
        raise SystemExit(f"bench: no drill table in:\n{p.stdout}{p.stderr}")
    return {"kind": kind, "mode": mode, "passed": p.returncode == 0, "attempts": sum(r["attempts"] for r in rows),
            "failed": sum(r["failed"] for r in rows), "worst_ms": max(r["worst_ms"] for r in rows), "sent": sum(r["sent"] for r in rows),
            "lost": sum(r["lost"] for r in rows), "longest_gap_s": max(r["gap_s"] for r in rows),
            "longest_reconnect_s": max((r["reconnect_s"] or 0) for r in rows), "nodes": rows, "seconds": seconds}


def use_haproxy(box):
    """HAProxy in place of nginx in front of a formed cluster: nginx's step rolled back, the topology's kind changed, applied."""
    box.wizard("rollback", "load-balancer", "--yes")
    with open(box.topology) as f:
        topo = f.read()
    with open(box.topology, "w") as f:
        f.write(topo.replace("kind: nginx", "kind: haproxy"))
    box.wizard("apply", "--yes", "--only", "load-balancer")


def message_drill():
    """Invalidation messages through a hard failure: on one formed 3-node sandbox, the drill in `hard` mode (each
    node's Erlang VM killed with SIGKILL, then started) RUNS times behind nginx, then RUNS times behind HAProxy.
    Per drill: messages lost (all nodes), the longest gap between deliveries and the subscriber's longest
    reconnect (any node); medians over the drills."""
    box = Sandbox(3)
    teardown.wait()
    out = {}
    try:
        box.wizard("apply", "--yes")
        for kind in ("nginx", "haproxy"):
            if kind == "haproxy":
                use_haproxy(box)
            drills = []
            for _ in range(RUNS):
                d = drill(box, kind, "hard")
                log(f"hard drill through {kind}: {d['lost']} lost of {d['sent']}, longest gap {d['longest_gap_s']} s, "
                    f"reconnect {d['longest_reconnect_s']} s, {d['failed']} failed new connections")
                drills.append(d)
            out[kind] = {"drills": drills, "lost": stats([d["lost"] for d in drills]), "longest_gap_s": stats([d["longest_gap_s"] for d in drills]),
                         "longest_reconnect_s": stats([d["longest_reconnect_s"] for d in drills]),
                         "failed": sum(d["failed"] for d in drills), "attempts": sum(d["attempts"] for d in drills),
                         "passed": sum(1 for d in drills if d["passed"])}
    finally:
        teardown.later(box)
    teardown.wait()
    return out


def message_drill_markdown(m):
    lines = []
    for kind, k in m.items():
        lines.append(f"| hard kill of each node behind {kind} (3 drills): messages lost per drill (of about {k['drills'][0]['sent']}) | "
                     f"{k['lost']['median']:g} ({k['lost']['min']:g}-{k['lost']['max']:g}) | |")
        lines.append(f"| hard kill behind {kind}: longest gap between deliveries; subscriber's longest reconnect | "
                     f"{k['longest_gap_s']['median']:.1f} s ({k['longest_gap_s']['min']:.1f}-{k['longest_gap_s']['max']:.1f}); "
                     f"{k['longest_reconnect_s']['median']:.1f} s ({k['longest_reconnect_s']['min']:.1f}-{k['longest_reconnect_s']['max']:.1f}) | "
                     f"gap <= 5 s {'met' if k['longest_gap_s']['max'] <= 5 else 'MISSED'} |")
        lines.append(f"| hard kill behind {kind}: failed new connections; drills that passed | {k['failed']} of {k['attempts']}; "
                     f"{k['passed']} of {len(k['drills'])} | |")
    return lines


def mutating_commands(box):
    """Commands that change something, in the product's own command log (read as a file, not through it)."""
    with open(os.path.join(box.dir, "state", "commands.jsonl")) as f:
        return sum(1 for line in f if line.strip() and json.loads(line).get("mutates"))


def log_lines(box):
    path = os.path.join(box.dir, "state", "commands.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def erlang_vms(records):
    """Erlang VMs the product started, from its command log: each rabbitmqctl run and each node
    connection's VM (a record of the channel's life). Requests answered over a connection start none."""
    n = 0
    for r in records:
        if r.get("via"):
            continue
        if any(w.endswith("rabbitmqctl") for w in r.get("argv", [])) or r.get("id", "").startswith("channel erl "):
            n += 1
    return n


OFF = dict(os.environ, RABBIT_WIZARD_CONNECTIONS="off")


def connections():
    """Node connections (one Erlang VM per node and run) against the CLI alone (RABBIT_WIZARD_CONNECTIONS=off):
    3-node applies on fresh sandboxes interleaved with the lean bare sequence, then status and the re-run on
    the formed cluster; Erlang VM starts counted from the command log."""
    applies = {n: {"on": [], "off": [], "lean": []} for n in (2, 3)}
    vms = {n: {"on": [], "off": []} for n in (2, 3)}
    kept = None
    for nodes in (2, 3):
        for i in range(RUNS):
            for variant in ("on", "off", "lean"):
                box = Sandbox(nodes)
                teardown.wait()
                if variant == "lean":
                    seconds, _ = timed([os.path.join(HERE, "lean.sh"), box.dir, str(nodes)])
                else:
                    before = len(log_lines(box))
                    seconds, _ = box.wizard("apply", "--yes", env=OFF if variant == "off" else None)
                    vms[nodes][variant].append(erlang_vms(log_lines(box)[before:]))
                applies[nodes][variant].append(seconds)
                log(f"{nodes} nodes, {variant}: {seconds:.1f} s")
                if nodes == 3 and variant == "on" and i == RUNS - 1:
                    kept = box
                    formed("wizard", 3)(box)
                else:
                    teardown.later(box, formed(variant, nodes))
    teardown.wait()
    out = {"apply": {str(n): {v: stats(x) for v, x in vs.items()} for n, vs in applies.items()},
           "apply_vms": {str(n): vs for n, vs in vms.items()}}
    try:
        for variant in ("on", "off"):
            times, counts = [], []
            for _ in range(5):
                before = len(log_lines(kept))
                seconds, p = kept.wizard("status", env=OFF if variant == "off" else None)
                if "cluster: 3 of 3 nodes running" not in p.stdout:
                    raise SystemExit(f"bench: status did not see the formed cluster:\n{p.stdout}")
                times.append(seconds)
                counts.append(erlang_vms(log_lines(kept)[before:]))
            out[f"status_{variant}"] = stats(times)
            out[f"status_{variant}"]["vms"] = counts
            log(f"status, connections {variant}: {statistics.median(times):.2f} s, {counts} Erlang VMs")
        rerun = []
        for _ in range(5):
            seconds, _ = kept.wizard("apply", "--yes")
            rerun.append(seconds)
        out["rerun"] = stats(rerun)
        # The screen on the formed cluster: its looks read over the node connections it keeps.
        out["tui"] = tmux_tui(kept)
    finally:
        teardown.later(kept)
        teardown.wait()
    return out


def vm_state(box):
    """Each node's Erlang VM as the node says it: OS pid and milliseconds since the VM started."""
    out = []
    for i in range(box.nodes):
        l = chr(97 + i)
        text = run([f"{box.dir}/nodes/{l}/bin/rabbitmqctl", "-n", f"rabbit-{l}@localhost", "eval",
                    'io:format("~s ~p~n", [os:getpid(), element(1, erlang:statistics(wall_clock))]).']).stdout.split()
        out.append((text[0], int(text[1])))
    return out


def node_port(box, letter):
    with open(f"{box.dir}/nodes/{letter}/bin/env") as f:
        return int(re.search(r"RABBITMQ_NODE_PORT=(\d+)", f.read()).group(1))


def zero_downtime():
    """No restart to form the cluster: 2- and 3-node applies on fresh sandboxes interleaved with the lean bare
    sequence (which keeps its restarts: it is the bare procedure). Per wizard apply: the Erlang VMs restarted
    (each node's OS pid and uptime before and after, as the node says them; node stops in the command log),
    and an independent AMQP client (scripts/steady_client.py, pika) connected to the seed directly, publishing
    and reading back a message every 100 ms through the whole apply."""
    out = {}
    for nodes in (2, 3):
        times = {"wizard": [], "lean": []}
        restarted, stops, clients = [], [], []
        for i in range(RUNS):
            for variant in ("wizard", "lean"):
                box = Sandbox(nodes)
                teardown.wait()
                if variant == "lean":
                    seconds, _ = timed([os.path.join(HERE, "lean.sh"), box.dir, str(nodes)])
                else:
                    before = vm_state(box)
                    stop_file = os.path.join(box.dir, "steady.stop")
                    client = subprocess.Popen([sys.executable, os.path.join(ROOT, "scripts/steady_client.py"), "127.0.0.1",
                                               str(node_port(box, "a")), stop_file, "900"], stdout=subprocess.PIPE, text=True)
                    deadline = time.monotonic() + 30
                    while not os.path.exists(stop_file + ".ready"):
                        if time.monotonic() > deadline or client.poll() is not None:
                            client.kill()
                            raise SystemExit("bench: the steady client made no round trip to the seed")
                        time.sleep(0.05)
                    seconds, _ = box.wizard("apply", "--yes")
                    open(stop_file, "w").close()
                    counts = json.loads(client.communicate(timeout=60)[0].strip().splitlines()[-1])
                    after = vm_state(box)
                    # A VM restarted: another pid, or an uptime that went back.
                    restarted.append(sum(1 for (p0, u0), (p1, u1) in zip(before, after) if p0 != p1 or u1 < u0))
                    stops.append(sum(1 for r in log_lines(box) if r.get("argv") and r["argv"][0].endswith("/bin/stop")))
                    clients.append(counts)
                times[variant].append(seconds)
                log(f"zero downtime, {nodes} nodes, {variant}: {seconds:.1f} s")
                teardown.later(box, formed(variant, nodes))
        teardown.wait()
        out[str(nodes)] = {"apply": {v: stats(x) for v, x in times.items()}, "vm_restarts": restarted, "stops_in_log": stops, "seed_client": clients}
    return out


def zero_downtime_markdown(z):
    f = lambda s: f"{s['median']:.1f} s ({s['min']:.1f}-{s['max']:.1f})"
    lines = []
    for n, r in sorted(z.items()):
        ratio = r["apply"]["wizard"]["median"] / r["apply"]["lean"]["median"]
        c = r["seed_client"]
        disconnects = [x["disconnects"] + x["failed_connects"] for x in c]
        lost = [x["lost"] for x in c]
        lines += [
            f"| apply, {n} nodes: wizard / lean bare sequence (same run) | {f(r['apply']['wizard'])} / {f(r['apply']['lean'])} | |",
            f"| {n} nodes, wizard/lean (same run) | {ratio:.2f} | <= 0.60 {'met' if ratio <= 0.60 else 'MISSED'} |",
            f"| Erlang VMs restarted by one {n}-node apply (the nodes' pids and uptime); node stops in its command log | "
            f"{r['vm_restarts']}; {r['stops_in_log']} | 0 {'met' if max(r['vm_restarts'] + r['stops_in_log']) == 0 else 'MISSED'} |",
            f"| independent client on the seed through one {n}-node apply (pika, a message every 100 ms): disconnects and failed "
            f"reconnects; messages lost of published | {disconnects}; {lost} of {[x['published'] for x in c]} | "
            f"0 {'met' if max(disconnects + lost) == 0 else 'MISSED'} |",
        ]
    return lines


def tui_markdown(t):
    ff = t["first_frame_ms"]
    return [
        f"| TUI first frame with the step list, in tmux (tmux's own floor {t['tmux_floor_ms']['median']:.0f} ms) | {ff['median']:.0f} ms "
        f"({ff['min']:.0f}-{ff['max']:.0f}) | <= 100 ms {'met' if ff['median'] <= 100 else 'MISSED'} |",
        f"| TUI resident memory idle / after a run (one sample each) | {t['rss_idle_mib']:.1f} / {t['rss_after_run_mib']:.1f} MiB | "
        f"<= 30 MiB {'met' if max(t['rss_idle_mib'], t['rss_after_run_mib']) <= 30 else 'MISSED'} |",
        f"| TUI CPU at idle (one 5 s sample) | {t['idle_cpu_percent']:.1f} % | ~0 |",
    ]


def connections_markdown(c):
    f = lambda s: f"{s['median']:.2f} s ({s['min']:.2f}-{s['max']:.2f})"
    lines = [
        f"| status on a formed 3-node sandbox, node connections / CLI alone (median of 5) | {f(c['status_on'])} / {f(c['status_off'])} | "
        f"<= 1.5 s {'met' if c['status_on']['median'] <= 1.5 else 'MISSED'} |",
        f"| Erlang VMs started by one status, node connections / CLI alone (command log) | {c['status_on']['vms']} / {c['status_off']['vms']} | "
        f"<= 3 (one per node) {'met' if max(c['status_on']['vms']) <= 3 else 'MISSED'} |",
    ]
    for n, a in sorted(c["apply"].items()):
        ratio = a["on"]["median"] / a["lean"]["median"]
        lines += [
            f"| apply, {n} nodes: node connections / CLI alone / lean bare sequence | {f(a['on'])} / {f(a['off'])} / {f(a['lean'])} | |",
            f"| {n} nodes, wizard/lean with node connections (same run) | {ratio:.2f} | <= 1.10 {'met' if ratio <= 1.10 else 'MISSED'} |",
            f"| Erlang VMs started by one {n}-node apply, node connections / CLI alone (command log) | {c['apply_vms'][n]['on']} / "
            f"{c['apply_vms'][n]['off']} | fewer |",
        ]
    lines.append(f"| re-run of apply on the formed 3-node cluster, node connections | {f(c['rerun'])} | "
                 f"<= 1.5 s {'met' if c['rerun']['median'] <= 1.5 else 'MISSED'} |")
    if "tui" in c:
        lines += tui_markdown(c["tui"])
    return lines


def hard_failure(box, kind):
    """A node killed with SIGKILL (no drain, no goodbye) while an independent AMQP client opens a new
    connection through the load balancer every 100 ms: failed new connections and the longest failing
    stretch. The node is started again afterwards and waited for."""
    port = int(re.search(r"listen_port: (\d+)", open(box.topology).read())[1])
    results = []
    stop = threading.Event()

    def client():
        while not stop.is_set():
            t = time.monotonic()
            results.append((t, amqp_hello("127.0.0.1", port, 2.0)))
            time.sleep(max(0, 0.1 - (time.monotonic() - t)))

    worker = threading.Thread(target=client)
    worker.start()
    time.sleep(2)
    with open(f"{box.dir}/nodes/c/pid") as f:
        victim = int(f.read().strip())
    os.kill(victim, 9)
    killed_at = time.monotonic()
    time.sleep(10)
    stop.set()
    worker.join()
    run([f"{box.dir}/nodes/c/bin/start"], timeout=300)
    end = time.monotonic() + 120
    while time.monotonic() < end and "rabbit-c@localhost" not in box.running_nodes():
        time.sleep(1)
    failed = [t for t, ok in results if not ok]
    longest, stretch_start, last = 0.0, None, None
    for t, ok in results:
        if not ok:
            stretch_start = t if stretch_start is None else stretch_start
            last = t
            longest = max(longest, last - stretch_start + 0.1)
        else:
            stretch_start = None
    return {"kind": kind, "attempts": len(results), "failed": len(failed), "longest_failing_ms": round(longest * 1000),
            "after_kill": sum(1 for t, _ in results if t >= killed_at)}


def tmux_tui(box):
    """The release build in tmux on the finished cluster: first frame, memory, idle CPU."""
    tdir = tempfile.mkdtemp(prefix="rw-bench-tmux-")
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    servers = []
    tmux = []

    def start(cmd):
        # A new server on a new socket each time, stopped by its pid (a socket just freed can refuse).
        tmux[:] = ["tmux", "-S", os.path.join(tdir, f"sock{len(servers)}"), "-f", "/dev/null"]
        t = time.monotonic()
        run(tmux + ["new-session", "-d", "-x", "80", "-y", "24", cmd], env=env)
        servers.append(int(run(tmux + ["display-message", "-p", "#{pid}"]).stdout.strip()))
        return t

    def stop_servers():
        for pid in servers:
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                pass

    def wait_for(text, limit=120):
        end = time.monotonic() + limit
        while time.monotonic() < end:
            screen = run(tmux + ["capture-pane", "-p"]).stdout
            if text in screen:
                return time.monotonic(), screen
            time.sleep(0.005)
        raise SystemExit(f"bench: tmux never showed {text!r}")

    def rss_kib(pid):
        with open(f"/proc/{pid}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read())[1])

    def cpu_ticks(pid):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    try:
        # The floor: the same tmux path showing a word from a shell.
        floor = []
        for _ in range(RUNS):
            t = start("echo ready; sleep 30")
            floor.append(wait_for("ready")[0] - t)
        first = []
        for i in range(RUNS):
            t = start(f"env TERM=tmux-256color LANG=C.UTF-8 {BIN} --config {box.topology}; sleep 30")
            # The step list drawn (the "opening" frame before it already shows the title).
            first.append(wait_for("installation-checks")[0] - t)
            if i < RUNS - 1:
                run(tmux + ["send-keys", "q"])
        server = run(tmux + ["display-message", "-p", "#{pane_pid}"]).stdout.strip()
        pid = int(run(["pgrep", "-P", server]).stdout.split()[0])
        wait_for("idle")
        time.sleep(1)
        rss_idle = rss_kib(pid)
        hz = os.sysconf("SC_CLK_TCK")
        c0, t0 = cpu_ticks(pid), time.monotonic()
        time.sleep(5)
        idle_cpu = (cpu_ticks(pid) - c0) / hz / (time.monotonic() - t0) * 100
        run(tmux + ["send-keys", "Enter"])
        wait_for("Done:", 300)
        rss_after = rss_kib(pid)
        run(tmux + ["send-keys", "q"])
        return {"first_frame_ms": stats([x * 1000 for x in first]), "tmux_floor_ms": stats([x * 1000 for x in floor]),
                "rss_idle_mib": rss_idle / 1024, "rss_after_run_mib": rss_after / 1024, "idle_cpu_percent": idle_cpu}
    finally:
        stop_servers()
        shutil.rmtree(tdir, ignore_errors=True)


def versions():
    def first_line(argv):
        try:
            p = subprocess.run(argv, capture_output=True, text=True)
            return (p.stdout or p.stderr).strip().splitlines()[0]
        except Exception as e:
            return f"unknown ({e})"

    rabbit = run(["dpkg-query", "-W", "-f=${Version}", "rabbitmq-server"], check=False).stdout
    erlang = run(["dpkg-query", "-W", "-f=${Version}", "erlang-base"], check=False).stdout
    return {"rabbit-wizard": first_line([BIN, "--version"]), "swift": first_line(["swift", "--version"]),
            "rabbitmq-server": rabbit, "erlang": erlang, "nginx": first_line(["nginx", "-v"]), "haproxy": first_line(["haproxy", "-v"])}


def machine():
    with open("/proc/cpuinfo") as f:
        model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "unknown")
    with open("/proc/meminfo") as f:
        mem = int(re.search(r"MemTotal:\s+(\d+)", f.read())[1]) / 1024 / 1024
    return {"cpu": model, "cores": os.cpu_count(), "memory_gib": round(mem, 1), "kernel": platform.release(),
            "os": platform.freedesktop_os_release().get("PRETTY_NAME", "") if hasattr(platform, "freedesktop_os_release") else ""}


def package():
    """make dist in release: the package's and the tarball's size, and how long `--version` takes, the
    first run after the build and the median of 20, for the packaged binary (Swift runtime linked in) and
    for the release build that loads the toolchain's shared libraries."""
    t = time.monotonic()
    out = run([os.path.join(ROOT, "scripts/dist.sh")], timeout=3600, env=dict(os.environ, DIST=os.path.join(ROOT, "dist"))).stdout.split()
    build_seconds = time.monotonic() - t
    deb = next(x for x in out if x.endswith(".deb"))
    tarball = next(x for x in out if x.endswith(".tar.gz"))
    unpacked = tempfile.mkdtemp(prefix="rw-bench-pkg-")
    try:
        run(["tar", "-xzf", tarball, "-C", unpacked])
        packaged = os.path.join(unpacked, "usr/bin/rabbit-wizard")

        def starts(binary):
            first, _ = timed([binary, "--version"])
            xs = [timed([binary, "--version"])[0] * 1000 for _ in range(20)]
            return {"first_ms": first * 1000, **stats(xs)}
        r = {"deb_mib": os.path.getsize(deb) / 2**20, "tarball_mib": os.path.getsize(tarball) / 2**20,
             "binary_mib": os.path.getsize(packaged) / 2**20, "build_seconds": build_seconds,
             "version_packaged": starts(packaged)}
        if os.access(BIN, os.X_OK):
            r["version_dynamic"] = starts(BIN)
        return r
    finally:
        shutil.rmtree(unpacked, ignore_errors=True)


def package_markdown(p):
    v = p["version_packaged"]
    lines = [f"| package (make dist, release), one build: .deb / tarball / binary | {p['deb_mib']:.1f} / {p['tarball_mib']:.1f} / {p['binary_mib']:.1f} MiB "
             f"(built in {p['build_seconds'] / 60:.1f} min, a single sample) | |",
             f"| cold start, `rabbit-wizard --version`, packaged binary: first run after the build, median (min-max) of 20 | "
             f"{v['first_ms']:.0f} ms, {v['median']:.0f} ms ({v['min']:.0f}-{v['max']:.0f}) | |"]
    if "version_dynamic" in p:
        d = p["version_dynamic"]
        lines.append(f"| ... the same for the release build with the toolchain's shared libraries | {d['first_ms']:.0f} ms, "
                     f"{d['median']:.0f} ms ({d['min']:.0f}-{d['max']:.0f}) | |")
    return lines


def main():
    if os.environ.get("BENCH_ONLY") == "package":
        result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "source": source(), "machine": machine(), "package": package()}
        os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
        with open(os.path.join(HERE, "results/package.json"), "w") as f:
            json.dump(result, f, indent=2, sort_keys=True)
        md = (f"{measured_line(result)}.\n\n"
              "| measurement | result | target |\n|---|---|---|\n" + "\n".join(package_markdown(result["package"])) + "\n")
        with open(os.path.join(HERE, "results/package.md"), "w") as f:
            f.write(md)
        print(md)
        return
    for b in (BIN, BENCH_BIN):
        if not os.access(b, os.X_OK):
            raise SystemExit(f"bench: {b} is missing: run swift build -c release first (make bench does)")
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "source": source(), "machine": machine(), "versions": versions(),
              "runs": RUNS}
    # One part alone: its own result files, its rows only.
    parts = {"connections": (connections, connections_markdown, ""), "zero-downtime": (zero_downtime, zero_downtime_markdown, "; lists are per run"),
             "drill": (message_drill, message_drill_markdown, " of the drill")}
    only = os.environ.get("BENCH_ONLY")
    if only in parts:
        measure, rows, note = parts[only]
        key = only.replace("-", "_")
        result[key] = measure()
        os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
        with open(os.path.join(HERE, f"results/{only}.json"), "w") as f:
            json.dump(result, f, indent=2, sort_keys=True)
        md = (f"{measured_line(result)}; "
              f"RabbitMQ {result['versions']['rabbitmq-server']}, Erlang {result['versions']['erlang']}; {result['versions']['rabbit-wizard']}. "
              f"Median (min-max) of {RUNS} runs{note}.\n\n| measurement | result | target |\n|---|---|---|\n"
              + "\n".join(rows(result[key])) + "\n")
        with open(os.path.join(HERE, f"results/{only}.md"), "w") as f:
            f.write(md)
        print(md)
        return

    log("executor: 1000 x /bin/true")
    result["executor"] = json.loads(run([BENCH_BIN, "1000"]).stdout)

    applies = {2: {"wizard": [], "literal": [], "lean": []}, 3: {"wizard": [], "literal": [], "lean": []}}
    finished = None
    for nodes in (2, 3):
        for i in range(RUNS):
            # The last round ends with the wizard: its cluster is kept for what follows, and no timed run
            # shares the machine with it.
            for variant in ("wizard", "literal", "lean") if i < RUNS - 1 else ("literal", "lean", "wizard"):
                seconds, box = apply_once(variant, nodes)
                applies[nodes][variant].append(seconds)
                log(f"{nodes} nodes, {variant}: {seconds:.1f} s")
                if nodes == 3 and variant == "wizard" and i == RUNS - 1:
                    finished = box  # kept: the re-run, the drills and the TUI use it
                    formed(variant, nodes)(box)
                else:
                    teardown.later(box, formed(variant, nodes))
    teardown.wait()
    result["apply"] = {str(n): {v: stats(x) for v, x in vs.items()} for n, vs in applies.items()}

    try:
        rerun = []
        changed = 0
        for _ in range(RUNS):
            before = mutating_commands(finished)
            seconds, _ = finished.wizard("apply", "--yes")
            changed += mutating_commands(finished) - before
            rerun.append(seconds)
        result["rerun_3_nodes"] = stats(rerun)
        result["rerun_3_nodes"]["mutating_commands"] = changed
        log(f"re-run on the finished 3-node cluster: {statistics.median(rerun):.2f} s, {changed} mutating command(s)")

        hard = [hard_failure(finished, "nginx")]
        failover = [drill(finished, "nginx")]
        use_haproxy(finished)
        hard.append(hard_failure(finished, "haproxy"))
        failover.append(drill(finished, "haproxy"))
        result["failover"] = failover
        result["hard_failure"] = hard
        log("node killed: " + ", ".join(f"{d['kind']} {d['failed']} failed of {d['attempts']}, longest {d['longest_failing_ms']} ms" for d in hard))
        log("failover: " + ", ".join(f"{d['kind']} {d['failed']} failed of {d['attempts']}, worst {d['worst_ms']} ms" for d in failover))

        log("TUI in tmux")
        result["tui"] = tmux_tui(finished)
    finally:
        teardown.later(finished)

    scaling = {"2": result["apply"]["2"]["wizard"], "3": result["apply"]["3"]["wizard"]}
    for nodes in (4, 5):
        xs = []
        for _ in range(SCALING_RUNS):
            seconds, box = apply_once("wizard", nodes)
            teardown.later(box, formed("wizard", nodes))
            xs.append(seconds)
            log(f"{nodes} nodes, wizard: {seconds:.1f} s")
        scaling[str(nodes)] = stats(xs)
    teardown.wait()
    result["scaling"] = scaling
    log("node connections against the CLI alone")
    result["connections"] = connections()
    log("zero downtime: applies without restarts")
    result["zero_downtime"] = zero_downtime()
    log("invalidation messages through a hard kill")
    result["drill"] = message_drill()
    log("package (make dist)")
    result["package"] = package()
    result["bench_seconds"] = time.monotonic() - started

    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results/latest.json"), "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
    md = markdown(result)
    with open(os.path.join(HERE, "results/latest.md"), "w") as f:
        f.write(md)
    print(md)


def markdown(r):
    a = r["apply"]
    f = lambda s: f"{s['median']:.1f} s ({s['min']:.1f}-{s['max']:.1f})"
    lines = [f"{measured_line(r)}, {r['machine']['memory_gib']} GiB; "
             f"RabbitMQ {r['versions']['rabbitmq-server']}, Erlang {r['versions']['erlang']}; {r['versions']['rabbit-wizard']}. "
             f"Median (min-max) of {r['runs']} runs; the whole benchmark took {r['bench_seconds'] / 60:.1f} min.", "",
             "| measurement | result | target |", "|---|---|---|"]
    for n in ("2", "3"):
        w, lit, lean = a[n]["wizard"], a[n]["literal"], a[n]["lean"]
        lines.append(f"| apply, {n} nodes: wizard / guide literally / lean bare sequence | {f(w)} / {f(lit)} / {f(lean)} | |")
        wl, wn = w["median"] / lit["median"], w["median"] / lean["median"]
        lines.append(f"| {n} nodes: wizard/literal, wizard/lean | {wl:.2f}, {wn:.2f} | <= 0.80 {'met' if wl <= 0.80 else 'MISSED'}, "
                     f"<= 1.10 {'met' if wn <= 1.10 else 'MISSED'} |")
    rr = r["rerun_3_nodes"]
    lines.append(f"| re-run on a finished 3-node cluster: time; mutating commands in the command log (0 = no change) | "
                 f"{f(rr)}; {rr['mutating_commands']} | <= 5 s {'met' if rr['median'] <= 5 else 'MISSED'}; 0 {'met' if rr['mutating_commands'] == 0 else 'MISSED'} |")
    e = r["executor"]
    lines.append(f"| executor overhead per command (/bin/true x {e['commands']}; bare spawn {e['direct_per_command_ms']:.2f} ms) | "
                 f"{e['overhead_per_command_ms']:.2f} ms, {e['log_cost_per_command_ms']:+.2f} ms with the command log (a negative value is noise) | "
                 f"<= 2 ms {'met' if e['overhead_with_log_per_command_ms'] <= 2 else 'MISSED'} |")
    lines.append(f"| executor memory for one command with 50 MB of output: resident growth / peak growth | "
                 f"{e['stream_50mb_rss_growth_mib']:.1f} / {e['stream_50mb_peak_growth_mib']:.1f} MiB | "
                 f"<= 40 MiB {'met' if e['stream_50mb_peak_growth_mib'] <= 40 else 'MISSED'} |")
    for d in r["failover"]:
        lines.append(f"| failover drill ({d.get('mode', 'graceful')}) through {d['kind']} (one drill): failed new connections, worst connect | {d['failed']} of {d['attempts']}, "
                     f"{d['worst_ms']} ms | 0 {'met' if d['failed'] == 0 else 'MISSED'} |")
    for d in r["hard_failure"]:
        lines.append(f"| node killed with SIGKILL behind {d['kind']} (one kill; independent AMQP client, a new connection every 100 ms): "
                     f"failed new connections, longest failing stretch | {d['failed']} of {d['attempts']}, {d['longest_failing_ms']} ms | "
                     f"0 {'met' if d['failed'] == 0 else 'MISSED'} |")
    lines += tui_markdown(r["tui"])
    s = r["scaling"]
    lines.append(f"| apply by node count, wizard (median of {len(s['4']['runs'])}): " + ", ".join(f"{n}: {s[n]['median']:.1f} s" for n in sorted(s)) + " | " +
                 ", ".join(f"+{s[str(n)]['median'] - s[str(n - 1)]['median']:.1f} s" for n in (3, 4, 5)) + " per extra node | about one join |")
    if "connections" in r:
        lines += connections_markdown(r["connections"])
    if "zero_downtime" in r:
        lines += zero_downtime_markdown(r["zero_downtime"])
    if "drill" in r:
        lines += message_drill_markdown(r["drill"])
    if "package" in r:
        lines += package_markdown(r["package"])
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
