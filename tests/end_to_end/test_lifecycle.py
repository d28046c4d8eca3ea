"""The service as a process: kill -9, torn logs, restarts, retrains under load, failures."""

import os
import random
import shutil
import signal
import threading
import time
from itertools import count

import pytest
import requests

from tests.support.tiny_data import write_tiny_dataset
from tests.support.waiting import wait_for
from tests.support.saved_model import save_model_as_server_would
from tests.support.service_process import QUICK_TRAINING, ServiceProcess

API_KEY = "test-api-key"
MOVIES = list(range(1, 13))


def start(scratch, dataset, name, *args):
    server = ServiceProcess(
        scratch / f"{name}.log", "--dataset", str(dataset), "--state-dir", str(scratch / "state"),
        *QUICK_TRAINING, "--retrain-after-ratings", "1000000", "--retrain-after-seconds", "100000", *args,
    )
    try:
        server.wait_until_up()
    except BaseException:  # not up (or interrupted): stopped here, or its JVM outlives the test
        server.stop()
        raise
    return server


def post_until_stopped(url, users, acknowledged, stop):
    """POST two ratings per new user until stopped or refused; record those that got a 201."""
    rng = random.Random(next(users))
    with requests.Session() as session:
        while not stop.is_set():
            user = next(users)
            ratings = [(movie, rng.randint(1, 10) / 2) for movie in rng.sample(MOVIES, 2)]
            try:
                response = session.post(f"{url}/{user}/ratings", data="".join(f"{m},{r}\n" for m, r in ratings), timeout=10)
            except requests.RequestException:
                return
            if response.status_code == 201:
                acknowledged.update((user, m, r) for m, r in ratings)


def missing(url, acknowledged):
    users = {user for user, _, _ in acknowledged}
    served = set()
    with requests.Session() as session:
        for user in users:
            served.update((user, r["movieId"], r["rating"]) for r in session.get(f"{url}/{user}/ratings").json()["ratings"])
    return acknowledged - served


def test_every_acknowledged_rating_survives_kill_9_and_a_torn_log(tmp_path, saved_tiny_model):
    # The first round starts from the saved tiny model too: what is tested is what survives a kill.
    dataset = saved_tiny_model.dataset
    saved_tiny_model.copy_state(tmp_path / "state")
    acknowledged, users, rng = set(), count(50_000), random.Random(11)
    rounds = 3
    for round_number in range(rounds):
        server = start(tmp_path, dataset, f"round{round_number}")
        try:
            assert not missing(server.url, acknowledged)
            if round_number:  # a restart: the saved model, no training
                assert "saved model" in server.log(tail=None) and "training the rating ALS" not in server.log(tail=None)
            stop = threading.Event()
            posters = [
                threading.Thread(target=post_until_stopped, args=(server.url, users, acknowledged, stop))
                for _ in range(4)
            ]
            for poster in posters:
                poster.start()
            time.sleep(rng.uniform(0.5, 2.5))
            os.kill(server.driver_pid(), signal.SIGKILL)
            stop.set()
            for poster in posters:
                poster.join(timeout=30)
            server.process.wait(timeout=60)
        finally:
            server.stop()
    assert len(acknowledged) > 50 * rounds
    with open(tmp_path / "state" / "ratings-log.csv", "ab") as ratings_log:
        ratings_log.write(b"99999,1,4.")  # a crash in the middle of a line
    server = start(tmp_path, dataset, "final")
    try:
        assert not missing(server.url, acknowledged)
        assert "torn last line" in server.log(tail=None)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def retraining_server(tmp_path_factory, spark):
    scratch = tmp_path_factory.mktemp("retraining")
    # A dataset of its own, which a test moves away: the first model, saved here, is trained in
    # the test process; the retrains under test run in the service.
    dataset = write_tiny_dataset(scratch / "data")
    save_model_as_server_would(spark, dataset, scratch / "state")
    os.environ["RECOMMENDER_API_KEYS"] = API_KEY
    try:
        server = start(scratch, dataset, "server")
    finally:
        del os.environ["RECOMMENDER_API_KEYS"]
    server.dataset = dataset
    yield server
    server.stop()


def retrain(server):
    response = requests.post(server.url + "/admin/retrain", headers={"Authorization": f"Bearer {API_KEY}"})
    assert response.status_code == 202


def training(server):
    return requests.get(server.url + "/health").json()["training"]




def test_a_failed_retrain_keeps_the_old_model_serving_and_health_says_why(retraining_server):
    server = retraining_server
    version = requests.get(server.url + "/ready").json()["modelVersion"]
    ratings = server.dataset / "ratings.csv"
    shutil.move(ratings, server.dataset / "ratings.csv.away")
    try:
        retrain(server)
        wait_for(lambda: training(server)["lastError"] is not None)
        status = training(server)
        assert "ratings.csv" in status["lastError"] and status["consecutiveFailures"] >= 1
        top = requests.get(server.url + "/1/ratings/top/3")
        assert top.status_code == 200 and top.headers["X-Model-Version"] == version
    finally:
        shutil.move(server.dataset / "ratings.csv.away", ratings)
    # The retry (with backoff) succeeds once the data is back.
    wait_for(lambda: training(server)["retrains"] >= 1)
    assert training(server)["lastError"] is None
    assert requests.get(server.url + "/ready").json()["modelVersion"] > version


def test_reads_keep_answering_from_monotonic_versions_while_a_retrain_runs(retraining_server):
    server = retraining_server
    before = requests.get(server.url + "/ready").json()["modelVersion"]
    retrains = training(server)["retrains"]
    stop, problems, seen = threading.Event(), [], []

    def read():
        last = ""
        with requests.Session() as session:
            while not stop.is_set():
                for path in ("/3/ratings/top/5", "/3/ratings/2", "/3/ratings", "/424242/ratings/top/5"):
                    response = session.get(server.url + path, timeout=10)
                    version = response.headers.get("X-Model-Version", "")
                    if response.status_code != 200 or version < last:
                        problems.append((path, response.status_code, version, last))
                    last = version
                    seen.append(version)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for reader in readers:
        reader.start()
    try:
        retrain(server)
        wait_for(lambda: training(server)["retrains"] > retrains)
        time.sleep(0.5)
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=30)
    after = requests.get(server.url + "/ready").json()["modelVersion"]
    assert not problems
    assert after > before and before in seen and after in seen
