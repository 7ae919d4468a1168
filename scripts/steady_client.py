#!/usr/bin/env python3
"""A long-lived AMQP client independent of rabbit-wizard (pika, from PyPI), for the tests' and the benchmark's
own counts of what a connected client sees while the wizard works.

    steady_client.py HOST PORT STOP_FILE MAX_SECONDS

Connects once (guest/guest, or STEADY_USER and STEADY_PASSWORD from the environment; heartbeat 10 s), declares an exclusive auto-delete queue, and every 100 ms
publishes a numbered message to it (publisher confirms) and reads back what has arrived, until STOP_FILE
exists or MAX_SECONDS pass. It writes STOP_FILE + ".ready" once the first message has made the round trip.
A lost connection is counted and the client connects again (a new queue: what was in the old one is lost,
as with OutSystems' exclusive queues). At the end it drains the queue for up to 2 s and prints one JSON
line: published, delivered, lost (published and never delivered), disconnects (connections lost),
failed_connects (attempts to connect again that failed), seconds."""
import json
import os
import sys
import time

import pika


def main():
    host, port, stop_file, limit = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    # STEADY_USER and STEADY_PASSWORD: another user than guest (which logs in from loopback only).
    credentials = pika.PlainCredentials(os.environ.get("STEADY_USER", "guest"), os.environ.get("STEADY_PASSWORD", "guest"))
    params = pika.ConnectionParameters(host=host, port=port, heartbeat=10, blocked_connection_timeout=10,
                                       connection_attempts=1, socket_timeout=5, credentials=credentials)
    start = time.monotonic()
    published, delivered, disconnects, failed_connects = set(), set(), 0, 0
    conn = channel = queue = None
    number = 0
    ready = False

    def connect():
        c = pika.BlockingConnection(params)
        ch = c.channel()
        ch.confirm_delivery()
        q = ch.queue_declare(queue="", exclusive=True, auto_delete=True).method.queue
        return c, ch, q

    def drain(ch, q):
        while True:
            method, _props, body = ch.basic_get(queue=q, auto_ack=True)
            if method is None:
                return
            delivered.add(int(body))

    while time.monotonic() - start < limit and not os.path.exists(stop_file):
        try:
            if conn is None:
                conn, channel, queue = connect()
            number += 1
            channel.basic_publish(exchange="", routing_key=queue, body=str(number).encode())
            published.add(number)
            drain(channel, queue)
            if delivered and not ready:
                open(stop_file + ".ready", "w").close()
                ready = True
            conn.sleep(0.1)
        except (pika.exceptions.AMQPError, OSError):
            if conn is None:
                failed_connects += 1
            else:
                disconnects += 1
            try:
                if conn is not None and conn.is_open:
                    conn.close()
            except Exception:
                pass
            conn = None
            time.sleep(0.1)
    if conn is not None:
        end = time.monotonic() + 2
        while time.monotonic() < end and not published <= delivered:
            try:
                drain(channel, queue)
                conn.sleep(0.1)
            except (pika.exceptions.AMQPError, OSError):
                disconnects += 1
                break
        try:
            conn.close()
        except Exception:
            pass
    print(json.dumps({"published": len(published), "delivered": len(delivered & published),
                      "lost": len(published - delivered), "disconnects": disconnects, "failed_connects": failed_connects,
                      "seconds": round(time.monotonic() - start, 1)}))


if __name__ == "__main__":
    main()
