"""SageMaker's container contract end to end: bin/train and bin/serve as SageMaker runs them, on a temporary /opt/ml."""

import os
import signal
import subprocess
import sys

import pytest
import requests

from recommender.storage import params_file
from recommender.storage.model_store import ModelStore
from tests.support.sagemaker_layout import ml_layout, read_text
from tests.support.service_process import driver_pid, free_port
from tests.support.tiny_data import skipped_movie
from tests.support.waiting import wait_for

# The parameters of conftest's tiny_engine, whose known answers the trained model must give.
TINY_HYPERPARAMETERS = {"rank": "4", "iterations": "10", "reg_param": "0.05", "seed": "7", "bias_damping": "10"}


def spark_env(**variables):
    """The environment service_process runs spark-submit in: the venv's bin and Python first."""
    venv_bin = os.path.dirname(sys.executable)
    return dict(os.environ, PATH=venv_bin + os.pathsep + os.environ["PATH"], PYSPARK_PYTHON=sys.executable, **variables)


def run_bin_train(repo_root, layout, log_path):
    """``train`` as SageMaker runs it, with RECOMMENDER_ML_ROOT in place of /opt/ml."""
    with open(log_path, "wb") as log:
        return subprocess.run(
            [os.path.join(repo_root, "bin", "train")], env=spark_env(RECOMMENDER_ML_ROOT=layout.root),
            cwd=os.path.dirname(layout.root), stdout=log, stderr=subprocess.STDOUT, timeout=600,
        ).returncode


def start_serve(repo_root, layout, scratch):
    """``bin/serve`` on the model in ``layout``, on a free port instead of 8080; answers /ping when returned."""
    port = free_port()
    env = spark_env(RECOMMENDER_ML_ROOT=layout.root, SAGEMAKER_BIND_TO_PORT=str(port))
    log_path = scratch / "serve.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [os.path.join(repo_root, "bin", "serve"), "--state-dir", str(scratch / "state")],
            env=env, cwd=scratch, stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def pinged():
        assert process.poll() is None, read_text(log_path)[-5000:]
        try:
            return requests.get(url + "/ping", timeout=2).status_code == 200
        except (requests.ConnectionError, requests.Timeout):
            return False

    try:
        wait_for(pinged, timeout=300, interval=0.25)
    except BaseException:
        stop(process)
        raise
    return url, process, log_path


def stop(process):
    if process.poll() is None:
        process.kill()
        process.wait()


# -- train and serve as SageMaker runs them ----------------------------------------------


@pytest.fixture(scope="module")
def trained(repo_root, tmp_path_factory):
    """``bin/train`` on the tiny dataset in a temporary /opt/ml, with string hyperparameters."""
    root = tmp_path_factory.mktemp("sagemaker") / "ml"
    layout = ml_layout(root, TINY_HYPERPARAMETERS)
    returncode = run_bin_train(repo_root, layout, root.parent / "train.log")
    return layout, returncode, read_text(root.parent / "train.log")


def test_train_saves_the_model_with_the_hyperparameters(trained):
    layout, returncode, log = trained
    assert returncode == 0, log[-5000:]
    assert not os.path.exists(layout.failure)
    versions = ModelStore(layout.model).versions()
    assert len(versions) == 1
    model = ModelStore(layout.model).load_newest()
    assert model.params == {
        **params_file.tuned_params().as_dict(), "rank": 4, "iterations": 10, "reg_param": 0.05, "seed": 7, "bias_damping": 10.0,
    }
    assert model.item_factors.shape == (13, 4) and len(model.user_ids) == 20


def test_a_failing_train_exits_non_zero_with_the_reason(repo_root, tmp_path):
    layout = ml_layout(tmp_path / "ml", {"rank": "four"})
    returncode = run_bin_train(repo_root, layout, tmp_path / "train.log")
    assert returncode != 0
    assert read_text(layout.failure) == "hyperparameter rank must be an integer, got 'four'\n"
    assert not os.path.exists(layout.model)


@pytest.fixture(scope="module")
def serving(trained, repo_root, tmp_path_factory):
    """``bin/serve`` on the model ``bin/train`` saved, shared by the read-only and the ratings test."""
    layout, returncode, log = trained
    assert returncode == 0, log[-5000:]
    scratch = tmp_path_factory.mktemp("serve")
    url, process, _ = start_serve(repo_root, layout, scratch)
    yield url, scratch / "state"
    stop(process)


def test_serve_pings_and_recommends_from_the_trained_model(serving, trained):
    url, _ = serving
    layout, *_ = trained
    ping = requests.get(url + "/ping").json()
    assert ping == {"status": "ok", "modelVersion": ModelStore(layout.model).versions()[0]}
    one = requests.post(url + "/invocations", json={"userId": 1, "count": 1, "minRatings": 0})
    assert one.status_code == 200
    assert one.json() == requests.get(url + "/1/ratings/top/1?min_ratings=0").json()
    assert one.json()["recommendations"][0]["movieId"] == skipped_movie(1)
    batch = requests.post(url + "/invocations", data=b'{"userIds": [1, 11], "count": 1, "minRatings": 0}')
    assert [r["recommendations"][0]["movieId"] for r in batch.json()["results"]] == [skipped_movie(1), skipped_movie(11)]
    bad = requests.post(url + "/invocations", data=b'{"userIds": [1, "11"]}')
    assert bad.status_code == 400 and "userIds[1]" in bad.json()["error"]


def test_serve_logs_posted_ratings_and_never_retrains(serving):
    url, state_dir = serving
    posted = requests.post(url + "/0/ratings", data=b"1,5\n2,5\n3,4.5\n")
    assert posted.status_code == 201
    logged = read_text(os.path.join(state_dir, "ratings-log.csv")).splitlines()[1:]
    assert [line.split(",")[:3] for line in logged] == [["0", "1", "5.0"], ["0", "2", "5.0"], ["0", "3", "4.5"]]
    top = requests.post(url + "/invocations", json={"userId": 0, "minRatings": 0}).json()
    assert top["personalized"] is True and not {r["movieId"] for r in top["recommendations"]} & {1, 2, 3}
    health = requests.get(url + "/health").json()
    assert health["training"] is None and health["model"]["acceptedRatings"] == 3


def test_serve_stops_cleanly_on_sigterm(trained, repo_root, tmp_path):
    layout, returncode, log = trained
    assert returncode == 0, log[-5000:]
    _, process, log_path = start_serve(repo_root, layout, tmp_path)
    try:
        os.kill(driver_pid(process), signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        stop(process)
    log = read_text(log_path)
    assert "stopping Spark" in log and "Traceback" not in log
