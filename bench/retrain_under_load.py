"""Serving while it retrains: top-10 and POST-of-10-ratings latency without and with a retrain running.

    python bench/retrain_under_load.py                                   # /tmp/recommender-bench-data/netflix-5M-parquet
    python bench/retrain_under_load.py --dataset DIR --seconds 20
    python bench/retrain_under_load.py --dataset data/ml-latest-small --seconds 5   # a quick look

Starts ``spark-submit --master local[2] server.py`` on the dataset (the retrain triggers off,
an API key so ``/admin/retrain`` can start one), waits for ``/ready``, then at
``--concurrency`` keep-alive connections (closed loop, bench/load.py's generator) sends
top-10s of random known users for ``--seconds``, then POSTs of 10 ratings by new users for
``--seconds``. It asks for a retrain, waits until ``/health`` says one runs, and sends the
same two phases again; a phase that outlasts the retrain is reported as such. Prints
p50/p99 and requests per second of each phase and the ratios with/without.
"""

import argparse
import asyncio
import json
import logging
import os
import random
import shutil
import sys
import tempfile
import time
from urllib.parse import urlsplit

import pyarrow.dataset as pa_dataset
import requests

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
sys.path.insert(0, os.path.dirname(BENCH))
from load import run_level  # noqa: E402
from tests.support.service_process import ServiceProcess  # noqa: E402

log = logging.getLogger("retrain_under_load")

KEY = "bench-retrain-under-load"
# bench/etl_scale.py --ratings 5M leaves its Parquet dataset here
DEFAULT_DATASET = os.path.join(tempfile.gettempdir(), "recommender-bench-data", "netflix-5M-parquet")
FIRST_NEW_USER = 10_000_000


def known_ids(dataset_dir, rng, count=2000):
    """Some user ids and movie ids of the dataset's ratings (read with pyarrow, not Spark)."""
    ratings = ratings_path(dataset_dir)
    fmt = "parquet" if os.path.isdir(ratings) or ratings.endswith(".parquet") else "csv"
    table = pa_dataset.dataset(ratings, format=fmt).head(200_000, columns=["userId", "movieId"])
    users = sorted(set(table.column("userId").to_pylist()))
    movies = sorted(set(table.column("movieId").to_pylist()))
    return rng.sample(users, min(count, len(users))), movies


def ratings_path(dataset_dir):
    """The ratings of a MovieLens CSV directory or of the newest version of an etl.py Parquet dataset."""
    csv_path = os.path.join(dataset_dir, "ratings.csv")
    if os.path.exists(csv_path):
        return csv_path
    with open(os.path.join(dataset_dir, "manifest.json"), encoding="utf-8") as manifest_file:
        manifest = json.load(manifest_file)
    return os.path.join(dataset_dir, manifest["version"], "ratings")


def top_ten_requests(host, users, count, rng):
    return [f"GET /{rng.choice(users)}/ratings/top/10 HTTP/1.1\r\nHost: {host}\r\n\r\n".encode() for _ in range(count)]


def post_requests(host, movies, first_user, count, rng, scale):
    """POSTs of 10 ratings in half stars within the model's rating ``scale`` (Netflix's is 1 to 5)."""
    low, high = (int(2 * bound) for bound in scale)
    requests_ = []
    for user in range(first_user, first_user + count):
        body = "".join(f"{movie},{rng.randint(low, high) / 2}\n" for movie in rng.sample(movies, 10)).encode()
        requests_.append(
            f"POST /{user}/ratings HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {KEY}\r\n"
            f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
        )
    return requests_


def phases(url, users, movies, concurrency, seconds, rng, first_user, scale):
    """The top-10 phase then the POST phase, ``seconds`` each: two LevelResults."""
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port
    many = 200_000  # more than a phase sends: the time limit ends it

    async def both():
        top = await run_level(host, port, "top-10", top_ten_requests(host, users, many, rng), concurrency,
                              seconds, time.perf_counter())
        post = await run_level(host, port, "POST 10 ratings", post_requests(host, movies, first_user, many, rng, scale),
                               concurrency, seconds, time.perf_counter())
        return top, post

    return asyncio.run(both())


def training_status(url):
    return requests.get(url + "/health", timeout=30).json()["training"]


def summary(result):
    row = result.row()
    return f"{row['requests_per_s']:8.0f} req/s  p50 {row['p50_ms']:7.1f} ms  p99 {row['p99_ms']:7.1f} ms  " \
           f"errors {dict(result.errors) or 0}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default=DEFAULT_DATASET, help="the dataset the service starts on")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of each phase")
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--niceness", type=int, default=10, help="the service's --retrain-niceness")
    parser.add_argument("--startup-timeout", type=float, default=3600)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, help="server.py --threads (default: the server's)")
    parser.add_argument("--state-from", help="a state directory trained on --dataset: its saved models are copied "
                        "into the run's fresh state directory, so the service starts without training")
    parser.add_argument(
        "--spark-scratch", help="a directory on another file system (e.g. /dev/shm) for Spark's shuffle files "
        "and checkpoints, so the ratings log's fsyncs do not wait for them (default: Spark's, under /tmp)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    rng = random.Random(args.seed)
    users, movies = known_ids(args.dataset, rng)
    work = tempfile.mkdtemp(prefix="retrain-under-load-")
    keys = os.path.join(work, "keys")
    with open(keys, "w", encoding="utf-8") as key_file:
        key_file.write(KEY + "\n")
    scratch_args, env = [], {"SPARK_DRIVER_MEMORY": args.driver_memory}
    if args.threads:
        scratch_args += ["--threads", str(args.threads)]
    if args.state_from:
        shutil.copytree(os.path.join(args.state_from, "models"), os.path.join(work, "state", "models"))
    if args.spark_scratch:
        scratch = tempfile.mkdtemp(prefix="retrain-under-load-", dir=args.spark_scratch)
        scratch_args += ["--checkpoint-dir", scratch]
        env["SPARK_LOCAL_DIRS"] = scratch
    service = ServiceProcess(
        os.path.join(work, "server.log"), *scratch_args, "--dataset", os.path.abspath(args.dataset), "--state-dir",
        os.path.join(work, "state"), "--api-keys-file", keys, "--retrain-after-ratings", str(10**9),
        "--retrain-after-seconds", str(10**9), "--min-retrain-gap", "0", "--gate", "off",
        "--retrain-niceness", str(args.niceness),
        env=env,
    )
    try:
        started = time.monotonic()
        scale = service.wait_until_up(timeout=args.startup_timeout)["model"]["ratingScale"]
        log.info("ready after %.1fs; log %s", time.monotonic() - started, service.log_path)
        quiet = phases(service.url, users, movies, args.concurrency, args.seconds, rng, FIRST_NEW_USER, scale)
        answer = requests.post(service.url + "/admin/retrain", headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
        answer.raise_for_status()
        requested = time.monotonic()
        while not training_status(service.url)["running"]:
            time.sleep(0.2)
        busy = phases(service.url, users, movies, args.concurrency, args.seconds, rng, 2 * FIRST_NEW_USER, scale)
        still_running = training_status(service.url)["running"]
        while training_status(service.url)["running"]:
            time.sleep(1)
        retrain_seconds = time.monotonic() - requested
    finally:
        service.stop()
    print(f"{args.dataset}, local[2], {args.concurrency} connections, {args.seconds:.0f} s a phase, "
          f"retrain niceness {args.niceness}, Spark scratch {args.spark_scratch or 'default'}; retrain took {retrain_seconds:.1f} s"
          + ("" if still_running else " (it ended before the phases did: the ratios understate its cost)"))
    for name, without, with_retrain in (("top-10", quiet[0], busy[0]), ("POST 10 ratings", quiet[1], busy[1])):
        print(f"{name:16} without retrain: {summary(without)}")
        print(f"{name:16} with retrain:    {summary(with_retrain)}")
        ratio = with_retrain.row()["p99_ms"] / without.row()["p99_ms"]
        throughput = with_retrain.row()["requests_per_s"] / without.row()["requests_per_s"]
        print(f"{name:16} p99 with/without: {ratio:.2f}   req/s with/without: {throughput:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
