#!/usr/bin/env python3
"""An independent count of the failover drill's invalidation messages (pika, from PyPI), for the tests and the
benchmark: what reached the broker, to hold the product's own counts against.

    drill_witness.py STOP_FILE MAX_SECONDS VHOST EXCHANGE HOST:PORT [HOST:PORT ...]

One subscriber per node, each connected straight to that node (not through the load balancer), as guest or
as WITNESS_USER with WITNESS_PASSWORD from the environment (the test gives that user the drill's vhost beforehand), each with an exclusive auto-delete queue bound to the drill's
fanout exchange. A fanout copies every message to every bound queue, so while one node is down the others
still get every message that the broker took: the union of what they receive is what the drill's publisher
got into the cluster. A subscriber whose node goes away connects again to the same node every 100 ms.

The drill's messages are "RUN NUMBER", one RUN per failed node. It writes STOP_FILE + ".ready" once every
subscriber consumes, runs until STOP_FILE exists or MAX_SECONDS pass, and prints one JSON line: a list of
{"run", "received"} in the order the runs were first seen (the drill's node order)."""
import json
import os
import sys
import threading
import time

import pika


def main():
    stop_file, limit, vhost, exchange = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
    endpoints = [e.rsplit(":", 1) for e in sys.argv[5:]]
    lock = threading.Lock()
    received = {}  # run -> set of numbers
    order = []
    consuming = [False] * len(endpoints)
    start = time.monotonic()

    def done():
        return os.path.exists(stop_file) or time.monotonic() - start > limit

    def take(body):
        run, _, number = body.decode(errors="replace").rpartition(" ")
        if not run or not number.isdigit():
            return
        with lock:
            if run not in received:
                received[run] = set()
                order.append(run)
            received[run].add(int(number))

    def subscriber(i, host, port):
        credentials = pika.PlainCredentials(os.environ.get("WITNESS_USER", "guest"), os.environ.get("WITNESS_PASSWORD", "guest"))
        params = pika.ConnectionParameters(host=host, port=int(port), virtual_host=vhost, heartbeat=2, credentials=credentials,
                                           connection_attempts=1, socket_timeout=2, blocked_connection_timeout=5)
        while not done():
            conn = None
            try:
                conn = pika.BlockingConnection(params)
                ch = conn.channel()
                ch.exchange_declare(exchange=exchange, exchange_type="fanout", durable=False, auto_delete=False)
                q = ch.queue_declare(queue="", exclusive=True, auto_delete=True).method.queue
                ch.queue_bind(queue=q, exchange=exchange)
                ch.basic_consume(queue=q, auto_ack=True, on_message_callback=lambda _c, _m, _p, body: take(body))
                consuming[i] = True
                while not done():
                    conn.process_data_events(time_limit=0.1)
            except (pika.exceptions.AMQPError, OSError):
                time.sleep(0.1)
            finally:
                try:
                    if conn is not None and conn.is_open:
                        conn.close()
                except Exception:
                    pass

    threads = [threading.Thread(target=subscriber, args=(i, h, p), daemon=True) for i, (h, p) in enumerate(endpoints)]
    for t in threads:
        t.start()
    while not all(consuming) and not done():
        time.sleep(0.05)
    if all(consuming):
        open(stop_file + ".ready", "w").close()
    for t in threads:
        t.join(timeout=limit + 10)
    with lock:
        print(json.dumps([{"run": r, "received": len(received[r])} for r in order]))


if __name__ == "__main__":
    main()
