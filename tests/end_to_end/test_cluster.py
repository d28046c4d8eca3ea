"""The service on a real standalone Spark cluster: a master and a worker on loopback.

Everything else runs Spark in ``local[2]``, where the driver and the executors share one
JVM, one working directory and one filesystem view. Here the executors are separate JVMs
started by a worker in their own working directory, so paths, shipping the ratings log
into Spark, checkpoints and saving the ALS model are exercised the way a cluster runs them.
"""

import logging
import os
import signal
import subprocess
import time
import uuid

import pyspark
import pytest
import requests

from tests.support.tiny_data import skipped_movie, tiny_ratings, write_tiny_dataset
from tests.support.waiting import wait_for
from tests.support.service_process import QUICK_TRAINING, REPO_ROOT, ServiceProcess, free_port

log = logging.getLogger(__name__)

pytestmark = pytest.mark.slow

SPARK_HOME = os.path.dirname(os.path.abspath(pyspark.__file__))
SPARK_CLASS = os.path.join(SPARK_HOME, "bin", "spark-class")
APP_NAME = "movie-recommender"  # server.py's Spark application name
API_KEY = "cluster-test-key"
AUTHORIZED = {"Authorization": f"Bearer {API_KEY}"}
# Set in the environment of every process this test starts; children (executors, the
# Python driver) inherit it, so the processes left behind can be found by it alone.
MARKER = "RECOMMENDER_CLUSTER_TEST"


def processes_marked(marker):
    """Pids of live processes whose environment carries ``MARKER=marker``."""
    needle = f"{MARKER}={marker}".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as environ:
                if needle in environ.read().split(b"\0"):
                    pids.append(int(entry))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return pids


class StandaloneCluster:
    """A Spark standalone master and one worker on 127.0.0.1, writing only under ``scratch``."""

    def __init__(self, scratch, marker):
        self.scratch = scratch
        self.marker = marker
        self.port, self.master_ui_port, self.worker_ui_port = free_port(), free_port(), free_port()
        self.url = f"spark://127.0.0.1:{self.port}"
        self.master_ui = f"http://127.0.0.1:{self.master_ui_port}"
        self.worker_ui = f"http://127.0.0.1:{self.worker_ui_port}"
        self.work_dir = scratch / "work"
        self.logs = scratch / "logs"
        for directory in (self.work_dir, self.logs, scratch / "local", scratch / "daemon-conf"):
            directory.mkdir(parents=True, exist_ok=True)
        self.env = dict(
            os.environ,
            SPARK_HOME=SPARK_HOME,
            # An empty configuration directory: nothing from the machine's Spark settings leaks in.
            SPARK_CONF_DIR=str(scratch / "daemon-conf"),
            SPARK_LOCAL_IP="127.0.0.1",
            SPARK_LOCAL_DIRS=str(scratch / "local"),
            # The default work directory is inside the installed pyspark package (a shared venv).
            SPARK_WORKER_DIR=str(self.work_dir),
            SPARK_LOG_DIR=str(self.logs),
            **{MARKER: marker},
        )
        self.processes = {}

    def _spawn(self, name, *arguments):
        with open(self.logs / f"{name}.log", "wb") as out:
            # A session of its own: killing its process group also ends the executors the
            # worker starts, which inherit the group.
            self.processes[name] = subprocess.Popen(
                [SPARK_CLASS, *arguments], env=self.env, cwd=self.scratch,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def log_tail(self, name, size=3000):
        return (self.logs / f"{name}.log").read_text(errors="replace")[-size:]

    def status(self):
        """The master's JSON status, or None while it does not answer."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                pytest.fail(f"the {name} exited with {process.returncode}:\n{self.log_tail(name)}")
        try:
            return requests.get(self.master_ui + "/json/", timeout=5).json()
        except (requests.ConnectionError, requests.Timeout, ValueError):
            return None

    def worker_status(self):
        return requests.get(self.worker_ui + "/json/", timeout=5).json()

    def start(self):
        self._spawn(
            "master", "org.apache.spark.deploy.master.Master",
            "--host", "127.0.0.1", "--port", str(self.port), "--webui-port", str(self.master_ui_port),
        )
        wait_for(lambda: self.status() is not None, timeout=90, interval=0.25)
        # 2 cores and 1 GiB: the machine's 2 cores, room for one 512 MiB executor.
        self._spawn(
            "worker", "org.apache.spark.deploy.worker.Worker",
            "--host", "127.0.0.1", "--webui-port", str(self.worker_ui_port),
            "--cores", "2", "--memory", "1g", "--work-dir", str(self.work_dir), self.url,
        )
        wait_for(lambda: [w["state"] for w in (self.status() or {}).get("workers", [])] == ["ALIVE"], timeout=90,
                 interval=0.25)

    def stop(self):
        """Stop the worker (and its executors) and the master; fail if any process of this test survives."""
        for name in ("worker", "master"):
            process = self.processes.get(name)
            if process is None:
                continue
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        deadline = time.monotonic() + 30
        while processes_marked(self.marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        strays = processes_marked(self.marker)
        for pid in strays:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        assert not strays, f"processes of the cluster test outlived it: {strays}"


@pytest.fixture
def cluster(tmp_path):
    started = time.monotonic()
    running = StandaloneCluster(tmp_path / "cluster", marker=str(uuid.uuid4()))
    try:
        running.start()
        log.info("standalone cluster up in %.1fs at %s", time.monotonic() - started, running.url)
        yield running
    finally:
        running.stop()


def executor_finished_tasks(cluster, app_id):
    """Tasks the app's executors on the worker have finished, counted in their own logs."""
    app_dir = cluster.work_dir / app_id
    return sum(
        (executor / "stderr").read_text(errors="replace").count("Finished task")
        for executor in app_dir.iterdir()
        if (executor / "stderr").exists()
    )


def command_line(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read()
    except OSError:
        return b""


def relative_to_repo(path):
    return os.path.relpath(path, REPO_ROOT)


def test_serves_posts_and_retrains_on_a_standalone_cluster(cluster, tmp_path):
    started = time.monotonic()
    dataset = write_tiny_dataset(tmp_path / "data")
    spark_conf = tmp_path / "spark-conf"
    spark_conf.mkdir()
    # spark-submit reads spark-defaults.conf from SPARK_CONF_DIR: an executor that fits the
    # 1 GiB worker, and a few shuffle partitions instead of 200 tasks per shuffle.
    (spark_conf / "spark-defaults.conf").write_text(
        "spark.executor.memory 512m\nspark.sql.shuffle.partitions 4\n", encoding="utf-8"
    )
    env = {
        "SPARK_CONF_DIR": str(spark_conf),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOCAL_DIRS": cluster.env["SPARK_LOCAL_DIRS"],
        MARKER: cluster.marker,
        "RECOMMENDER_API_KEYS": API_KEY,
    }
    # Relative paths on purpose: the executors run in the worker's directory, not the
    # driver's, so these only work if they are made absolute before Spark sees them.
    server = ServiceProcess(
        tmp_path / "server.log",
        "--dataset", relative_to_repo(dataset),
        "--state-dir", relative_to_repo(tmp_path / "state"),
        "--checkpoint-dir", relative_to_repo(tmp_path / "checkpoints"),
        *QUICK_TRAINING, "--retrain-niceness", "0", "--retrain-after-ratings", "1000000", "--retrain-after-seconds", "100000",
        "--gate", "off",  # the retrain is the cluster's to run here; the gate has tests of its own
        master=cluster.url, env=env,
    )
    try:
        health = server.wait_until_up(timeout=240)
        log.info("service ready on the cluster in %.1fs", time.monotonic() - started)
        first_version = health["model"]["modelVersion"]
        assert (health["model"]["users"], health["model"]["ratings"]) == (20, len(tiny_ratings()))

        # The application is registered with our master and has an executor on our worker,
        # which ran the training's tasks: this is not local mode.
        apps = cluster.status()["activeapps"]
        assert [(a["name"], a["state"]) for a in apps] == [(APP_NAME, "RUNNING")]
        app_id = apps[0]["id"]
        assert [e["appid"] for e in cluster.worker_status()["executors"]] == [app_id]
        tasks_after_start = executor_finished_tasks(cluster, app_id)
        assert tasks_after_start > 0
        # The executor JVM carries the marker too, so the finalizer's check for strays sees it.
        marked = processes_marked(cluster.marker)
        assert {cluster.processes["master"].pid, cluster.processes["worker"].pid, server.driver_pid()} <= set(marked)
        assert any(b"CoarseGrainedExecutorBackend" in command_line(pid) for pid in marked)
        # Executors wrote ALS checkpoints and the saved model's Spark part where the driver
        # resolved the relative paths, not under their own working directory.
        assert list((tmp_path / "checkpoints").glob("*/rdd-*/part-*"))
        assert (tmp_path / "state" / "models" / first_version / "als" / "userFactors" / "_SUCCESS").exists()

        # Known answers: each fan's one unrated movie of their own genre comes first.
        for user in (1, 4, 12, 17):
            response = requests.get(f"{server.url}/{user}/ratings/top/3", params={"min_ratings": 0}, timeout=10)
            body = response.json()
            assert response.status_code == 200 and body["personalized"] is True
            assert body["recommendations"][0]["movieId"] == skipped_movie(user), (user, body)
            assert response.headers["X-Model-Version"] == first_version

        # A new user's ratings are accepted, served back and fold in at once.
        posted = requests.post(f"{server.url}/500/ratings", data="1,5\n2,4.5\n7,1\n", headers=AUTHORIZED, timeout=10)
        assert posted.status_code == 201, posted.text
        own = requests.get(f"{server.url}/500/ratings", timeout=10).json()["ratings"]
        assert [(r["movieId"], r["rating"]) for r in own] == [(1, 5.0), (2, 4.5), (7, 1.0)]
        top = requests.get(f"{server.url}/500/ratings/top/3", params={"min_ratings": 0}, timeout=10).json()
        assert top["personalized"] is True and top["recommendations"][0]["movieId"] in (3, 4, 5, 6)

        # A retrain asked for over HTTP runs on the cluster and serves a newer model that
        # includes the posted ratings (shipped from the driver's log into Spark).
        retrain = requests.post(
            f"{server.url}/admin/retrain", headers=AUTHORIZED, timeout=10
        )
        assert retrain.status_code == 202, retrain.text

        def model():
            return requests.get(server.url + "/health", timeout=10).json()["model"]

        wait_for(lambda: model()["modelVersion"] > first_version, timeout=180, interval=0.5)
        health = requests.get(server.url + "/health", timeout=10).json()
        assert health["training"]["retrains"] == 1 and health["training"]["lastError"] is None
        assert (health["model"]["users"], health["model"]["ratings"]) == (21, len(tiny_ratings()) + 3)
        assert health["model"]["logPosition"] == 3
        new_version = health["model"]["modelVersion"]
        response = requests.get(f"{server.url}/500/ratings/top/3", params={"min_ratings": 0}, timeout=10)
        assert response.headers["X-Model-Version"] == new_version
        assert response.json()["recommendations"][0]["movieId"] in (3, 4, 5, 6)
        assert executor_finished_tasks(cluster, app_id) > tasks_after_start
        assert [a["id"] for a in cluster.status()["activeapps"]] == [app_id]  # the same application
        log.info("retrained on the cluster after %.1fs in all", time.monotonic() - started)

        # A graceful stop ends the application on the cluster and releases its executor.
        os.kill(server.driver_pid(), signal.SIGTERM)
        assert server.process.wait(timeout=60) == 0
        wait_for(lambda: [(a["id"], a["state"]) for a in cluster.status()["completedapps"]] == [(app_id, "FINISHED")],
                 timeout=60, interval=0.25)
        wait_for(lambda: cluster.worker_status()["executors"] == [], timeout=60, interval=0.25)
        assert "Traceback" not in server.log(tail=None)
    finally:
        server.stop()
