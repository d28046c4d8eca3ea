"""Latency of a normal client while slow and idle clients are connected, against spark-submit server.py.

    python bench/slow_clients.py                  # 64 slow + 64 idle connections, 20 s phases
    python bench/slow_clients.py --seconds 5 --slow 16 --idle 16

A normal client sends ``GET /health`` and ``GET /0/ratings/top/10`` alternately, one at a
time, first with nothing else connected and then while ``--slow`` connections (from
127.0.0.2) each send one more header line every second, never ending their headers, and
``--idle`` connections (from 127.0.0.3) send nothing. The service answers those 408 after
``--header-timeout`` and closes them; they reconnect at once, as an attacker would. Loopback
only; every loop is bounded by ``--seconds``. Prints p50 and p99 of each phase.
"""

import argparse
import os
import socket
import sys
import tempfile
import threading
import time

import numpy as np
import requests

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import synthetic  # noqa: E402
from tests.support.service_process import ServiceProcess  # noqa: E402


class Crowd:
    """``count`` connections from ``source`` kept open until stopped; ``drip`` sends a header line a second."""

    def __init__(self, port, source, count, drip):
        self.port, self.source, self.count, self.drip = port, source, count, drip
        self.stopping = threading.Event()
        self.refused = 0  # 408s and 503s received
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _connect(self):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5, source_address=(self.source, 0))
        sock.setblocking(False)
        if self.drip:
            sock.send(b"GET /health HTTP/1.1\r\n")
        return sock

    def _run(self):
        sockets = [self._connect() for _ in range(self.count)]
        while not self.stopping.wait(1.0):
            for index, sock in enumerate(sockets):
                try:
                    if sock.recv(4096, socket.MSG_PEEK):  # an answer: 408 (or 503); the server closes
                        self.refused += 1
                        raise ConnectionError
                except BlockingIOError:
                    if self.drip:
                        sock.send(b"X-Drip: 1\r\n")
                    continue
                except OSError:
                    pass
                sock.close()
                sockets[index] = self._connect()
        for sock in sockets:
            sock.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.stopping.set()
        self.thread.join(10)


def latencies(url, seconds):
    """Milliseconds of each request of a normal client over ``seconds``, and the non-200 count."""
    session = requests.Session()
    paths = ("/health", "/0/ratings/top/10")
    times, failures, deadline = [], 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            ok = session.get(url + paths[len(times) % 2], timeout=5).status_code == 200
        except requests.RequestException:
            ok = False
        times.append((time.perf_counter() - started) * 1000)
        failures += not ok
        time.sleep(0.01)
    return np.array(times), failures


def row(name, times, failures):
    return (f"{name:<34} {len(times):>8} {np.percentile(times, 50):>8.1f} {np.percentile(times, 99):>8.1f} "
            f"{times.max():>8.1f} {failures:>7}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", type=int, default=64, help="connections dripping header lines")
    parser.add_argument("--idle", type=int, default=64, help="connections sending nothing")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        synthetic.generate(os.path.join(scratch, "data"), 20000, seed=1)
        service = ServiceProcess(os.path.join(scratch, "service.log"), "--dataset", os.path.join(scratch, "data"),
                                 "--state-dir", os.path.join(scratch, "state"))
        try:
            service.wait_until_up()
            quiet = latencies(service.url, args.seconds)
            with Crowd(service.port, "127.0.0.2", args.slow, drip=True) as slow, \
                    Crowd(service.port, "127.0.0.3", args.idle, drip=False) as idle:
                time.sleep(1.0)
                crowded = latencies(service.url, args.seconds)
        finally:
            service.stop()
    print(f"{'phase':<34} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'non-200':>7}")
    print(row("alone", *quiet))
    print(row(f"with {args.slow} slow + {args.idle} idle", *crowded))
    print(f"slow/idle connections answered 408 or 503 and reopened: {slow.refused + idle.refused}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
