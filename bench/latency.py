"""Serving latency over HTTP: top-10 (unfiltered and with filters), one-movie predictions, POSTs of 10 ratings.

    python bench/latency.py                # starts spark-submit server.py on the bundled data
    python bench/latency.py --url URL      # measures a service that is already running
    python bench/latency.py --requests 50  # a short run

Requests are sent one at a time over a keep-alive connection, so the figures are
the latency of one request, client and HTTP stack included.
"""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time

import requests

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.support.service_process import ServiceProcess  # noqa: E402

# Movies of the bundled dataset that the POSTs rate.
MOVIES = [1, 260, 296, 318, 356, 480, 527, 589, 593, 1196, 2571, 2959, 4993, 5952, 7153, 58559]
USERS = range(1, 611)  # the bundled dataset's users
# Every filter of docs/discovery.md at once: two genres, an excluded list, no blockbusters, two new places.
FILTERS = "genre=Drama&genre=Comedy&exclude=" + ",".join(map(str, MOVIES)) + "&exclude_popular=100&new=2"


def post_body(rng):
    """A POST body of 10 ``movie_id,rating`` lines of distinct movies in ``MOVIES``."""
    return "".join(f"{movie},{rng.randint(1, 10) / 2}\n" for movie in rng.sample(MOVIES, 10))


def percentile(samples, fraction):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def timed(session, method, url, **kwargs):
    started = time.perf_counter()
    response = session.request(method, url, **kwargs)
    elapsed = time.perf_counter() - started
    if response.status_code >= 300:
        raise RuntimeError(f"{method} {url}: {response.status_code} {response.text}")
    return elapsed


def measure(url, count, seed=1):
    """Latencies in seconds of ``count`` requests of each kind, keyed by kind."""
    rng = random.Random(seed)
    users = USERS
    with requests.Session() as session:
        for _ in range(20):  # warm the connection and the server's code paths
            timed(session, "GET", f"{url}/1/ratings/top/10")
        results = {
            "top-10": [timed(session, "GET", f"{url}/{rng.choice(users)}/ratings/top/10") for _ in range(count)],
            "top-10 filtered": [
                timed(session, "GET", f"{url}/{rng.choice(users)}/ratings/top/10?{FILTERS}") for _ in range(count)
            ],
            "one movie": [
                timed(session, "GET", f"{url}/{rng.choice(users)}/ratings/{rng.choice(MOVIES)}") for _ in range(count)
            ],
        }
        posts = []
        for user in range(100_000, 100_000 + max(1, count // 10)):
            posts.append(timed(session, "POST", f"{url}/{user}/ratings", data=post_body(rng)))
        results["POST 10 ratings"] = posts
    return results


def report(results):
    lines = [f"{'request':<16} {'n':>6} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'mean ms':>8}"]
    for kind, samples in results.items():
        ms = [s * 1000 for s in samples]
        lines.append(
            f"{kind:<16} {len(ms):>6} {percentile(ms, 0.5):>8.2f} {percentile(ms, 0.9):>8.2f} "
            f"{percentile(ms, 0.99):>8.2f} {statistics.fmean(ms):>8.2f}"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running service; default: start one on the bundled data")
    parser.add_argument("--requests", type=int, default=3000, help="requests of each read kind (POSTs: a tenth)")
    parser.add_argument("--start-timeout", type=float, default=300, help="seconds to wait for the service to start")
    args = parser.parse_args(argv)
    if args.url:
        print(report(measure(args.url, args.requests)))
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        service = ServiceProcess(os.path.join(scratch, "server.log"))
        try:
            started = time.perf_counter()
            service.wait_until_up(args.start_timeout)
            print(f"service up in {time.perf_counter() - started:.1f}s (JVM start, load, training)")
            print(report(measure(service.url, args.requests)))
        finally:
            service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
