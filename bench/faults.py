"""A long fault run: concurrent POSTs and reads against spark-submit server.py, killed -9 at random moments.

    python bench/faults.py                # 10 rounds
    python bench/faults.py --rounds 2     # the short mode the test suite runs

Each round starts the service on one state directory, checks that every rating acknowledged
so far is served, runs 4 posting and 2 reading clients and kills the Python driver with
SIGKILL after a random 0.5 to 3 s. Before every third round the ratings log gets a torn last
line (a crash mid-append) and the newest saved model a truncated ``arrays.npz``; the last
round does both. A final start checks again. Prints acknowledged ratings, those found after
the restarts, lost (must be 0), reads answered other than 2xx or 503-while-starting, and
restart times; exits 1 if anything was lost or a read failed.
"""

import argparse
import glob
import os
import pathlib
import random
import signal
import sys
import tempfile
import threading
import time
from itertools import count

import requests

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.support.service_process import QUICK_TRAINING, ServiceProcess  # noqa: E402
from tests.support.tiny_data import write_tiny_dataset  # noqa: E402

MOVIES = list(range(1, 13))


class Run:
    """The state shared by the clients of all rounds."""

    def __init__(self):
        self.acknowledged = set()  # (user, movie, rating) answered 201
        self.bad_reads = []  # (path, status) of reads answered neither 2xx nor 503
        self.lock = threading.Lock()
        self.users = count(50_000)


def post(url, run, stop, seed):
    rng = random.Random(seed)
    with requests.Session() as session:
        while not stop.is_set():
            with run.lock:
                user = next(run.users)
            ratings = [(movie, rng.randint(1, 10) / 2) for movie in rng.sample(MOVIES, 2)]
            try:
                answer = session.post(f"{url}/{user}/ratings", data="".join(f"{m},{r}\n" for m, r in ratings), timeout=10)
            except requests.RequestException:
                return  # killed
            if answer.status_code == 201:
                with run.lock:
                    run.acknowledged.update((user, m, r) for m, r in ratings)


def read(url, run, stop):
    with requests.Session() as session:
        while not stop.is_set():
            for path in ("/0/ratings/top/10", "/health", "/50000/ratings"):
                try:
                    status = session.get(url + path, timeout=10).status_code
                except requests.RequestException:
                    return  # killed
                if not (200 <= status < 300 or status == 503):
                    run.bad_reads.append((path, status))


def served(url, users):
    found = set()
    with requests.Session() as session:
        for user in users:
            answer = session.get(f"{url}/{user}/ratings", timeout=10).json()
            found.update((user, r["movieId"], r["rating"]) for r in answer["ratings"])
    return found


def damage(state):
    """A torn log line and a truncated arrays.npz of the newest saved model; returns what was done."""
    with open(os.path.join(state, "ratings-log.csv"), "ab") as ratings_log:
        ratings_log.write(b"99999,1,4.")
    done = ["torn log"]
    models = sorted(glob.glob(os.path.join(state, "models", "2*", "arrays.npz")))
    if models:
        with open(models[-1], "rb+") as arrays:
            arrays.truncate(os.path.getsize(models[-1]) // 2)
        done.append("damaged model")
    return done


def start(scratch, dataset, name):
    started = time.perf_counter()
    service = ServiceProcess(
        os.path.join(scratch, f"{name}.log"), "--dataset", dataset, "--state-dir", os.path.join(scratch, "state"),
        *QUICK_TRAINING, "--retrain-after-ratings", "1000000", "--retrain-after-seconds", "100000",
    )
    try:
        service.wait_until_up()
    except BaseException:  # not up (or interrupted): stopped here, or its JVM outlives the run
        service.stop()
        raise
    return service, time.perf_counter() - started


def one_round(service, run, rng):
    stop = threading.Event()
    clients = [threading.Thread(target=post, args=(service.url, run, stop, rng.random())) for _ in range(4)]
    clients += [threading.Thread(target=read, args=(service.url, run, stop)) for _ in range(2)]
    for client in clients:
        client.start()
    time.sleep(rng.uniform(0.5, 3.0))
    os.kill(service.driver_pid(), signal.SIGKILL)
    stop.set()
    for client in clients:
        client.join(timeout=30)
    service.process.wait(timeout=60)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng, run, rows, lost = random.Random(args.seed), Run(), [], 0
    with tempfile.TemporaryDirectory() as scratch:
        dataset = str(write_tiny_dataset(pathlib.Path(scratch) / "data"))
        for number in range(1, args.rounds + 2):  # the last start only checks
            faults = damage(os.path.join(scratch, "state")) if number > 1 and (
                number % 3 == 0 or number == args.rounds + 1) else []
            service, seconds = start(scratch, dataset, f"round{number}")
            try:
                users = {user for user, _, _ in run.acknowledged}
                found = served(service.url, users) & run.acknowledged
                lost = len(run.acknowledged) - len(found)
                rows.append((number, ", ".join(faults) or "-", seconds, len(run.acknowledged), len(found), lost))
                if number <= args.rounds and not lost:
                    one_round(service, run, rng)
            finally:
                service.stop()
            if lost:
                break
    print(f"{'start':>5}  {'faults before it':<26} {'ready s':>7} {'acked':>7} {'found':>7} {'lost':>5}")
    for number, faults, seconds, acknowledged, found, missing in rows:
        print(f"{number:>5}  {faults:<26} {seconds:>7.1f} {acknowledged:>7} {found:>7} {missing:>5}")
    print(f"acknowledged {len(run.acknowledged)}, found after restart {rows[-1][4]}, lost {lost}, "
          f"reads answered other than 2xx/503: {len(run.bad_reads)} {run.bad_reads[:5]}")
    return 1 if lost or run.bad_reads else 0


if __name__ == "__main__":
    sys.exit(main())
