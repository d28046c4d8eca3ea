"""``server.py --workers 1`` against ``--workers 2`` on one PostgreSQL ratings store: reads scale with cores.

    python bench/workers.py                  # the bundled dataset, concurrency 32, 3000 requests a route

Starts a PostgreSQL server in a temporary directory (tests/support/postgres.py), then the
service with ``--workers 1`` and with ``--workers 2`` in turn on the same store and model
directory (the second run loads the model the first saved), and loads each with
``bench/load.py``'s closed-loop generator at 32 keep-alive connections: ``/health``, top-10
for random known users, one-movie predictions, POSTs of 10 ratings by new users. Prints
both tables and the top-10 and POST throughput ratios.
"""

import argparse
import logging
import os
import sys
import tempfile
import time

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from load import BUNDLED_DATASET, dataset_sample, format_table, load_test  # noqa: E402
from tests.support.postgres import PostgresServer  # noqa: E402
from tests.support.service_process import ServiceProcess  # noqa: E402

log = logging.getLogger("workers")


def all_ready(url, probes=20):
    """``/ready`` answers 200 on ``probes`` fresh connections: every worker has its model."""
    return all(requests.get(url + "/ready", headers={"Connection": "close"}, timeout=10).status_code == 200
               for _ in range(probes))


def measure(workers, store_url, scratch, args):
    server = ServiceProcess(
        os.path.join(scratch, f"workers-{workers}.log"), "--dataset", args.dataset,
        "--state-dir", os.path.join(scratch, f"state-{workers}"), "--model-store", os.path.join(scratch, "models"),
        "--ratings-store", store_url, "--workers", str(workers), "--threads", str(args.threads),
        "--retrain-after-ratings", "100000000", "--retrain-after-seconds", "100000",
        "--max-connections-per-ip", "0",
    )
    try:
        server.wait_until_up(timeout=600)
        deadline = time.monotonic() + 300
        while not all_ready(server.url):
            if time.monotonic() > deadline:
                raise RuntimeError(f"not every worker was ready:\n{server.log()}")
            time.sleep(0.5)
        return load_test(server.url, dataset_sample(args.dataset), levels=(args.concurrency,), count=args.requests)
    finally:
        server.process.terminate()
        server.process.wait(60)
        server.stop()


def rate(results, route):
    return next(r.row()["requests_per_s"] for r in results if r.route == route)


def p99(results, route):
    return next(r.row()["p99_ms"] for r in results if r.route == route)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default=BUNDLED_DATASET)
    parser.add_argument("--requests", type=int, default=3000, help="requests per route")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--threads", type=int, default=4, help="HTTP threads of each worker")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    postgres = PostgresServer()
    postgres.start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-workers-") as scratch:
            one = measure(1, postgres.new_database("workers1"), scratch, args)
            two = measure(2, postgres.new_database("workers2"), scratch, args)
    finally:
        postgres.stop()
        postgres.remove()
    print(f"--workers 1 (cores: {os.cpu_count()}, load average at the end: {open('/proc/loadavg').read().strip()})")
    print(format_table(one))
    print("--workers 2")
    print(format_table(two))
    for route in ("top-10", "POST 10 ratings", "health"):
        print(f"{route} at concurrency {args.concurrency}: --workers 2 / --workers 1 = "
              f"{rate(two, route):.0f} / {rate(one, route):.0f} req/s = {rate(two, route) / rate(one, route):.2f}x; "
              f"p99 {p99(two, route):.1f} ms / {p99(one, route):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
