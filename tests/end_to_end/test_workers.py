"""``server.py --workers 2``: two processes on one port sharing one PostgreSQL store."""

import subprocess
import time

import pytest
import requests

from tests.support.service_process import QUICK_TRAINING, ServiceProcess
from tests.support.tiny_data import ROMANCE, write_tiny_dataset
from tests.support.waiting import wait_for

API_KEY = "workers-test-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
FORWARDED = "a retrain asked of a serving worker starts here"  # the training worker's log line


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory, postgres):
    scratch = tmp_path_factory.mktemp("workers")
    write_tiny_dataset(scratch / "data")
    server = ServiceProcess(
        scratch / "server.log", "--dataset", str(scratch / "data"), "--state-dir", str(scratch / "state"),
        "--ratings-store", postgres.new_database("workers"), "--workers", "2", *QUICK_TRAINING,
        "--retrain-niceness", "0", "--retrain-after-ratings", "1000000", "--retrain-after-seconds", "100000",
        env={"RECOMMENDER_API_KEYS": API_KEY},
    )
    server.wait_until_up()
    yield server
    server.stop()


def serving_workers(server):
    """Pids of the serving workers: Python children of the driver started with --serving-worker."""
    children = subprocess.run(["pgrep", "-P", str(server.driver_pid())], capture_output=True, text=True).stdout.split()
    return [pid for pid in children if b"--serving-worker" in open(f"/proc/{pid}/cmdline", "rb").read()]


def fresh_get(url):
    """A request on a new connection, so the kernel may hand it to either process."""
    return requests.get(url, headers={"Connection": "close"}, timeout=10)


def test_the_second_worker_serves_the_same_port_and_sees_every_write(two_workers):
    server = two_workers
    assert len(serving_workers(server)) == 1
    wait_for(lambda: all(fresh_get(server.url + "/ready").status_code == 200 for _ in range(20)), timeout=120)
    user, ratings = 95_000, [(movie, 5.0) for movie in ROMANCE[:3]]
    response = requests.post(f"{server.url}/{user}/ratings", data="".join(f"{m},{r}\n" for m, r in ratings), headers=AUTH)
    assert response.status_code == 201
    time.sleep(1)
    for _ in range(20):
        served = {(r["movieId"], r["rating"]) for r in fresh_get(f"{server.url}/{user}/ratings").json()["ratings"]}
        assert served == set(ratings)


def test_a_retrain_asked_of_the_serving_worker_is_done_by_the_training_one(two_workers):
    server = two_workers
    wait_for(lambda: all(fresh_get(server.url + "/ready").status_code == 200 for _ in range(20)), timeout=120)
    before = fresh_get(server.url + "/ready").json()["modelVersion"]
    answer = None
    for _ in range(50):  # the kernel picks the process per connection: ask until the serving worker answers
        answer = requests.post(server.url + "/admin/retrain", headers={**AUTH, "Connection": "close"}, timeout=10)
        assert answer.status_code == 202, answer.text
        if answer.json()["training"] is None:
            break
    assert answer.json() == {"status": "retrain requested from the training worker", "training": None}
    wait_for(lambda: FORWARDED in server.log(tail=None), timeout=30)
    wait_for(lambda: all(fresh_get(server.url + "/ready").json()["modelVersion"] > before for _ in range(20)),
             timeout=300)


def test_stopping_the_first_worker_stops_the_others(two_workers):
    server = two_workers
    workers = serving_workers(server)
    server.process.terminate()
    server.process.wait(timeout=60)
    wait_for(lambda: not any(subprocess.run(["kill", "-0", pid], capture_output=True).returncode == 0 for pid in workers),
             timeout=30)
