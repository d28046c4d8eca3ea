"""Two serving replicas on one PostgreSQL ratings store and one model directory (docs/cluster.md)."""

import os
import random
import signal
import subprocess
import sys
import threading
import time
from itertools import count

import psycopg
import pytest
import requests

from recommender.datasets.postgres_store import RETRAIN_LOCK

from tests.support.service_process import QUICK_TRAINING, REPO_ROOT, ServiceProcess
from tests.support.tiny_data import ACTION, ROMANCE, write_tiny_dataset
from tests.support.waiting import wait_for

API_KEY = "replica-test-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
MOVIES = ACTION + ROMANCE


def replica_process(scratch, url, name, *args):
    # One model directory, named as a file:// URI to a and as a plain path to b: the same store through Hadoop.
    models = f"file://{scratch / 'models'}" if name == "a" else str(scratch / "models")
    return ServiceProcess(
        scratch / f"{name}.log", "--dataset", str(scratch / "data"), "--state-dir", str(scratch / name),
        "--ratings-store", url, "--model-store", models, *QUICK_TRAINING, "--gate", "off",
        # A retrain's JVM at niceness 0: beside the other tests' JVMs a niced one waits for the cores.
        "--retrain-niceness", "0", "--retrain-after-ratings", "1000000", "--retrain-after-seconds", "100000", *args,
        env={"RECOMMENDER_API_KEYS": API_KEY},
    )


def start_replica(scratch, url, name):
    server = replica_process(scratch, url, name)
    server.wait_until_up()
    return server


@pytest.fixture(scope="module")
def replicas(tmp_path_factory, postgres):
    scratch = tmp_path_factory.mktemp("replicas")
    write_tiny_dataset(scratch / "data")
    url = postgres.new_database("replicas")
    a, b = replica_process(scratch, url, "a"), replica_process(scratch, url, "b")  # at once: one trains
    for server in (a, b):
        server.wait_until_up()
    yield scratch, url, a, b
    for server in (a, b):
        server.stop()


def served_ratings(url, user, session=requests):
    return {(r["movieId"], r["rating"]) for r in session.get(f"{url}/{user}/ratings").json()["ratings"]}


def top10(url, user):
    return [item["movieId"] for item in requests.get(f"{url}/{user}/ratings/top/10?min_ratings=0").json()["recommendations"]]


def post(url, user, ratings, session=requests):
    return session.post(f"{url}/{user}/ratings", data="".join(f"{m},{r}\n" for m, r in ratings), headers=AUTH, timeout=30)


def model_version(server):
    return requests.get(server.url + "/health").json()["model"]["modelVersion"]


def test_replicas_started_together_train_once_and_serve_the_same_model(replicas):
    _, _, a, b = replicas
    assert ["training the rating ALS" in server.log(tail=None) for server in (a, b)].count(True) == 1
    assert model_version(a) == model_version(b)


def test_a_rating_posted_to_one_replica_is_read_and_ranked_by_the_other_within_a_second(replicas):
    _, _, a, b = replicas
    user, before = 90_001, top10(b.url, 90_001)
    ratings = [(movie, 5.0) for movie in ROMANCE[:3]] + [(movie, 1.0) for movie in ACTION[:3]]
    assert post(a.url, user, ratings).status_code == 201
    acknowledged = time.monotonic()
    wait_for(lambda: served_ratings(b.url, user) == set(ratings), timeout=1, interval=0.02)
    wait_for(lambda: top10(b.url, user) != before, timeout=1 - (time.monotonic() - acknowledged), interval=0.02)
    assert top10(b.url, user)[0] in ROMANCE


def post_many(urls, users, acknowledged, stop=None, limit=None):
    """POST one or two ratings per new user to the replicas in turn; record what got a 201."""
    rng = random.Random(next(users))
    with requests.Session() as session:
        for sent in count():
            if (stop is not None and stop.is_set()) or (limit is not None and sent == limit):
                return
            user = next(users)
            ratings = [(movie, rng.randint(2, 10) / 2) for movie in rng.sample(MOVIES, rng.randint(1, 2))]
            try:
                response = post(urls[sent % len(urls)], user, ratings, session)
            except requests.RequestException:
                continue
            if response.status_code == 201:
                acknowledged.update((user, m, r) for m, r in ratings)


def missing(url, acknowledged):
    served = set()
    with requests.Session() as session:
        for user in {user for user, _, _ in acknowledged}:
            served.update((user, movie, rating) for movie, rating in served_ratings(url, user, session))
    return acknowledged - served


def test_a_thousand_posts_spread_over_both_replicas_are_on_both(replicas):
    _, _, a, b = replicas
    acknowledged, users = set(), count(100_000)
    posters = [threading.Thread(target=post_many, args=([a.url, b.url][i % 2:] + [a.url][:i % 2], users, acknowledged),
                                kwargs={"limit": 125}) for i in range(8)]
    for poster in posters:
        poster.start()
    for poster in posters:
        poster.join()
    assert len({user for user, _, _ in acknowledged}) == 1000
    time.sleep(1)
    assert not missing(a.url, acknowledged)
    assert not missing(b.url, acknowledged)


def retrain(a, b):
    """Retrain on ``a`` and wait until ``b`` serves the new version too."""
    old = model_version(b)
    assert requests.post(a.url + "/admin/retrain", headers=AUTH).status_code == 202
    wait_for(lambda: model_version(a) != old, timeout=240)
    wait_for(lambda: model_version(b) == model_version(a), timeout=10)


def saved_versions(server):
    return [entry["modelVersion"] for entry in requests.get(server.url + "/models").json()["models"]]


def test_a_retrain_on_one_replica_is_served_by_the_other(replicas):
    _, _, a, b = replicas
    assert post(a.url, 930_001, [(ACTION[0], 5.0)]).status_code == 201  # a rating for the retrain to cover
    retrain(a, b)
    assert requests.get(b.url + "/health").json()["model"]["logPosition"] > 0


def test_activating_an_older_version_on_one_replica_serves_it_on_both(replicas):
    _, _, a, b = replicas
    if len(saved_versions(a)) < 2:  # this test's own second version, when no other test retrained first
        retrain(a, b)
    newest, older = saved_versions(a)[:2]
    assert requests.post(f"{a.url}/admin/models/{older}/activate", headers=AUTH).status_code == 200
    wait_for(lambda: model_version(a) == model_version(b) == older, timeout=5)
    assert requests.post(f"{b.url}/admin/models/{newest}/activate", headers=AUTH).status_code == 200
    wait_for(lambda: model_version(a) == model_version(b) == newest, timeout=5)


def test_a_retrain_asked_of_one_replica_while_another_trains_is_409_naming_it(replicas):
    _, url, _, b = replicas
    with psycopg.connect(url, autocommit=True, application_name="replica elsewhere") as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (RETRAIN_LOCK,))  # as a replica training holds it
        response = requests.post(b.url + "/admin/retrain", headers=AUTH)
        assert response.status_code == 409
        assert response.json()["retrainingReplica"] == "replica elsewhere"
        assert response.json()["error"] == "another replica is retraining"


def test_losing_the_store_makes_writes_503_with_retry_after_while_reads_answer(replicas, postgres):
    _, _, a, b = replicas
    user = 95_500
    assert post(a.url, user, [(ROMANCE[0], 4.0)]).status_code == 201
    wait_for(lambda: served_ratings(b.url, user) == {(ROMANCE[0], 4.0)}, timeout=1, interval=0.02)
    postgres.stop(mode="immediate")
    try:
        for server in (a, b):
            response = post(server.url, user, [(ROMANCE[1], 5.0)])
            assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
            assert "ratings store" in response.json()["error"]
            assert requests.get(server.url + "/health").json()["writes"]["ok"] is False
        for server in (a, b):  # reads answer, without the write that failed
            assert served_ratings(server.url, user) == {(ROMANCE[0], 4.0)}
            assert top10(server.url, user)
    finally:
        postgres.start()
    wait_for(lambda: post(b.url, user, [(ROMANCE[2], 3.0)]).status_code == 201, timeout=10)
    wait_for(lambda: served_ratings(a.url, user) == {(ROMANCE[0], 4.0), (ROMANCE[2], 3.0)}, timeout=2)


def test_kill_9_of_a_replica_mid_load_loses_no_acknowledged_rating(replicas):
    scratch, url, a, b = replicas
    acknowledged, users, stop = set(), count(200_000), threading.Event()
    posters = [threading.Thread(target=post_many, args=([a.url, b.url], users, acknowledged, stop)) for _ in range(4)]
    for poster in posters:
        poster.start()
    time.sleep(2)
    os.kill(b.driver_pid(), signal.SIGKILL)
    time.sleep(1)
    stop.set()
    for poster in posters:
        poster.join(timeout=60)
    b.process.wait(timeout=60)
    assert len(acknowledged) > 50
    time.sleep(1)
    assert not missing(a.url, acknowledged)
    restarted = start_replica(scratch, url, "b")  # while a runs: loads the newest saved model, catches up
    try:
        assert "training the rating ALS" not in restarted.log(tail=None)
        assert not missing(restarted.url, acknowledged)
    finally:
        restarted.stop()


@pytest.mark.parametrize("args, said", [
    (["--ratings-store", "postgresql://nobody@127.0.0.1:1/none"], "ratings store postgresql://nobody@127.0.0.1:1/none cannot be used"),
    (["--ratings-store", "mysql://x"], "is neither file: nor postgresql://"),
    (["--workers", "2"], "--workers above 1 needs a shared --ratings-store postgresql://"),
    (["--workers", "2", "--ratings-store", "postgresql://x@127.0.0.1:1/x", "--model-store", "hdfs://nn/models"],
     "--workers above 1 needs a --model-store on a local or shared disk"),
])
def test_a_bad_store_configuration_is_one_line_and_exit_2(tmp_path, args, said):
    done = subprocess.run([sys.executable, "server.py", "--state-dir", str(tmp_path), "--port", "0", *args],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and said in done.stderr
