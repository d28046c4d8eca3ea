"""The Python HTTP stack's own ceiling: what the service's server answers when the app does nothing.

    python bench/stack_ceiling.py                 # concurrency 32, 4 threads, 4000 requests a variant
    python bench/stack_ceiling.py --short         # seconds; the test suite runs it once

Each variant is served in a process of its own by ``cheroot_server.bounded_server`` (the
service's cheroot server and settings) and loaded by load.py's asyncio generator from this
process at one concurrency level, side by side in one run:

- ``hello``: a Flask app answering ``{"status": "ok"}``: cheroot plus Flask, nothing else;
- ``hello + access log``: the same inside Paste's TransLogger, logging through a queue to
  a background thread as server.py does;
- ``service /health``: the service's own app (metrics, model-version headers, access log)
  on a tiny engine, answering ``/health``.

The service's top-10 cannot be faster than these; bench/load.py measures it.
"""

import argparse
import asyncio
import logging
import logging.handlers
import os
import multiprocessing
import queue
import socket
import sys
import time

from flask import Flask, jsonify
from paste.translogger import TransLogger

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from recommender.http import cheroot_server  # noqa: E402
from app import create_app  # noqa: E402
from engine import RecommendationEngine  # noqa: E402
from load import run_level  # noqa: E402
from tests.support.service_process import free_port  # noqa: E402

log = logging.getLogger("stack_ceiling")


def hello_app():
    app = Flask(__name__)
    app.get("/health")(lambda: jsonify(status="ok"))
    return app


def access_logged(app):
    """``app`` inside TransLogger, its records written (to /dev/null) by a background thread."""
    records = queue.SimpleQueue()
    access = logging.getLogger("stack_ceiling.access")
    access.propagate = False
    access.handlers[:] = [logging.handlers.QueueHandler(records)]
    access.setLevel(logging.INFO)
    logging.handlers.QueueListener(records, logging.StreamHandler(open(os.devnull, "w"))).start()
    return TransLogger(app, logger=access, setup_console_handler=False)


VARIANTS = {
    "hello": hello_app,
    "hello + access log": lambda: access_logged(hello_app()),
    "service /health": lambda: access_logged(create_app(RecommendationEngine())),
}


def serve(variant, port, threads):
    """The server process: ``variant``'s app until terminated."""
    server = cheroot_server.bounded_server(VARIANTS[variant](), "127.0.0.1", port, threads=threads)
    server.safe_start()


def measure(variant, concurrency, count, threads):
    """``GET /health`` on ``variant``'s app, served by a process of its own; a load.LevelResult."""
    port = free_port()
    process = multiprocessing.get_context("fork").Process(target=serve, args=(variant, port, threads), daemon=True)
    process.start()
    request = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    try:
        wait_until_listening(port)
        asyncio.run(run_level("127.0.0.1", port, "warm-up", [request] * 200, 4, 30.0, time.perf_counter()))
        return asyncio.run(run_level("127.0.0.1", port, variant, [request] * count, concurrency, 60.0, time.perf_counter()))
    finally:
        process.terminate()
        process.join()


def wait_until_listening(port, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def run(concurrency, count, threads):
    """Each variant once, in order; a list of (variant, LevelResult)."""
    return [(variant, measure(variant, concurrency, count, threads)) for variant in VARIANTS]


def report(results, concurrency, threads):
    lines = [f"GET /health at concurrency {concurrency}, {threads} server threads",
             f"{'variant':<22}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'client CPU':>12}"]
    for name, result in results:
        row = result.row()
        lines.append(f"{name:<22}{row['requests_per_s']:>9.1f}{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}"
                     f"{row['client_cpu_pct']:>11.0f}%")
    return "\n".join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(description="The HTTP stack's ceiling, without the recommender's work.")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--requests", type=int, default=4000, help="requests per variant")
    parser.add_argument("--threads", type=int, default=4, help="server threads, as server.py's --threads")
    parser.add_argument("--short", action="store_true", help="200 requests at concurrency 8")
    args = parser.parse_args(argv)
    if args.short:
        args.concurrency, args.requests = 8, 200
    return args


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    print(report(run(args.concurrency, args.requests, args.threads), args.concurrency, args.threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
