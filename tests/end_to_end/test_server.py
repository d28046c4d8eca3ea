"""spark-submit server.py as a subprocess, spoken to over HTTP."""

import importlib.util
import os
import signal
import subprocess
import time

import pytest
import requests

from recommender.storage import params_file
import server as server_module
from tests.support.waiting import wait_for
from tests.support.service_process import QUICK_TRAINING, ServiceProcess


def test_api_keys_come_from_the_file_or_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RECOMMENDER_API_KEYS", " k1, k2 ,,")
    assert server_module.parse_args([]).api_keys == ("k1", "k2")
    keys_file = tmp_path / "keys"
    keys_file.write_text("# rotated 2026-11\nfile-key-1\n\n  file-key-2  \n")
    assert server_module.parse_args(["--api-keys-file", str(keys_file)]).api_keys == (
        "file-key-1", "file-key-2")
    monkeypatch.delenv("RECOMMENDER_API_KEYS")
    assert server_module.parse_args([]).api_keys == ()


@pytest.mark.parametrize("content, message", [("# only a comment\n", "holds no API keys"),
                                               ("bad key with spaces\n", "cannot carry")])
def test_unusable_api_keys_stop_start_up_without_echoing_them(tmp_path, capsys, content, message):
    keys_file = tmp_path / "keys"
    keys_file.write_text(content)
    with pytest.raises(SystemExit) as stopped:
        server_module.parse_args(["--api-keys-file", str(keys_file)])
    error = capsys.readouterr().err
    assert stopped.value.code != 0 and message in error and "spaces" not in error


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The service on the bundled dataset with its default settings, shared by the tests that only talk to it."""
    scratch = tmp_path_factory.mktemp("server")
    running = ServiceProcess(
        scratch / "server.log", "--state-dir", str(scratch / "state"), "--access-log", str(scratch / "access.log")
    )
    running.access_log = scratch / "access.log"
    running.wait_until_up()
    yield running
    running.stop()


def test_health_reports_the_bundled_dataset(server):
    health = requests.get(server.url + "/health").json()
    model = health["model"]
    assert (model["users"], model["movies"], model["ratings"]) == (610, 9742, 100836)
    assert health["ready"] is True
    assert model["params"] == params_file.tuned_params().as_dict()  # the tuned defaults


def test_top_ten_and_one_movie(server):
    top = requests.get(server.url + "/1/ratings/top/10").json()
    assert top["personalized"] is True and len(top["recommendations"]) == 10
    assert all(item["ratingsCount"] >= 25 and 0.5 <= item["predictedRating"] <= 5.0 for item in top["recommendations"])
    movie = requests.get(server.url + "/1/ratings/1262").json()
    assert movie["title"] == "Great Escape, The (1963)"


def test_curl_posted_ratings_file_is_served_back(server, tmp_path):
    ratings_file = tmp_path / "user_ratings.file"
    ratings_file.write_text("260,5\n1,4\n16,3\n25,4\n32,4\n335,1\n379,1\n296,5\n858,5\n50,4\n")
    posted = subprocess.run(
        ["curl", "-s", "-w", "\n%{http_code}", "--data-binary", f"@{ratings_file}", server.url + "/0/ratings"],
        capture_output=True, text=True, check=True,
    ).stdout
    body, status = posted.rsplit("\n", 1)
    assert status == "201", body
    own = requests.get(server.url + "/0/ratings").json()["ratings"]
    assert {r["movieId"] for r in own} == {260, 1, 16, 25, 32, 335, 379, 296, 858, 50}
    top = requests.get(server.url + "/0/ratings/top/10").json()
    assert top["personalized"] is True
    assert not {r["movieId"] for r in top["recommendations"]} & {r["movieId"] for r in own}


def test_a_fan_who_rates_ten_sci_fi_classics_gets_five_sci_fi_movies_in_the_next_top_10(server):
    def sci_fi_in_top_10():
        top = requests.get(server.url + "/9001/ratings/top/10").json()
        return top, sum("Sci-Fi" in item["genres"] for item in top["recommendations"])

    cold, before = sci_fi_in_top_10()
    # Star Wars IV-VI, Alien, Aliens, The Terminator, Terminator 2, Blade Runner, 2001, Jurassic Park
    sci_fi = [260, 1196, 1210, 1214, 1200, 1240, 589, 541, 924, 480]
    body = "".join(f"{movie},5\n" for movie in sci_fi)
    assert requests.post(server.url + "/9001/ratings", data=body).status_code == 201
    top, after = sci_fi_in_top_10()
    assert not cold["personalized"] and top["personalized"] is True
    assert after >= 5, (before, top["recommendations"])  # the few-ratings genre blend (docs/evaluation.md)
    scores = [item["score"] for item in top["recommendations"]]
    assert scores == sorted(scores, reverse=True)


def test_bad_input_is_json_over_the_wire(server):
    response = requests.post(server.url + "/0/ratings", data=b"260,9\n")
    assert response.status_code == 400 and "rating 9 is outside" in response.json()["error"]
    response = requests.delete(server.url + "/0/ratings")
    assert response.status_code == 405 and response.headers["Content-Type"] == "application/json"
    response = requests.post(server.url + "/0/ratings", data=b"1,5\n" * 300_000)
    assert response.status_code == 413 and "error" in response.json()


def test_a_chunked_body_over_the_limit_is_413_and_applies_nothing(server):
    before = requests.get(server.url + "/5/ratings").json()["ratings"]
    chunks = (b"1,5\n" * 25_000 for _ in range(20))  # 2 MB without a Content-Length: over the 1 MiB limit
    response = requests.post(server.url + "/5/ratings", data=chunks)
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert response.status_code == 413 and "over the limit of 1048576 bytes" in response.json()["error"]
    assert requests.get(server.url + "/5/ratings").json()["ratings"] == before


def test_the_access_log_goes_to_its_file_only(server):
    requests.get(server.url + "/1/ratings/top/3?min_ratings=0")
    wait_for(lambda: "/1/ratings/top/3?min_ratings=0" in server.access_log.read_text(), timeout=10)
    line = next(line for line in server.access_log.read_text().splitlines() if "/1/ratings/top/3" in line)
    assert '"GET /1/ratings/top/3?min_ratings=0 HTTP/1.1" 200' in line  # Apache combined format
    assert "/1/ratings/top/3" not in server.log(tail=None)


def test_latency_benchmark_runs_in_short_mode(server, repo_root):
    """bench/latency.py against the running service, so the script cannot rot."""
    spec = importlib.util.spec_from_file_location("latency", os.path.join(repo_root, "bench", "latency.py"))
    latency = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(latency)
    results = latency.measure(server.url, 20)
    assert [len(samples) for samples in results.values()] == [20, 20, 20, 2]
    assert "POST 10 ratings" in latency.report(results)


def test_load_benchmark_runs_in_short_mode(server, spark, repo_root, tmp_path, capsys):
    """bench/load.py --short against the running service, baseline included, with its CSV and plot."""
    spec = importlib.util.spec_from_file_location("load", os.path.join(repo_root, "bench", "load.py"))
    load = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(load)
    args = load.parse_args(["--short", "--out", str(tmp_path)])
    results, baseline = load.run(server.url, args, spark=spark, dataset_dir=args.dataset)
    assert [(r.route, r.concurrency) for r in results] == [(route, c) for c in (1, 8) for route in load.ROUTES]
    assert all(not r.errors and len(r.latencies) == 100 for r in results)
    assert len(baseline.latencies) == 2
    assert "the tutorial design's throughput" in capsys.readouterr().out
    assert (tmp_path / "load.png").stat().st_size > 10_000
    assert len((tmp_path / "load.csv").read_text().splitlines()) == 1 + len(results) + 1


@pytest.fixture(scope="module")
def tiny_services(tmp_path_factory, saved_tiny_model):
    """A service on the tiny dataset for each test that stops one, launched together so that
    the second starts up while the first test runs; each test stops its own. Both start from the
    saved tiny model: what is tested is how they stop."""
    scratch = tmp_path_factory.mktemp("tiny-services")
    started = {
        name: ServiceProcess(
            scratch / f"{name}.log", "--dataset", str(saved_tiny_model.dataset), *QUICK_TRAINING,
            "--state-dir", str(saved_tiny_model.copy_state(scratch / name)),
        )
        for name in ("driver-sigterm", "submit-sigterm")
    }
    yield started
    for server in started.values():
        server.stop()


def test_sigterm_to_the_driver_stops_http_and_spark_cleanly(tiny_services):
    server = tiny_services["driver-sigterm"]
    try:
        server.wait_until_up()
        os.kill(server.driver_pid(), signal.SIGTERM)
        assert server.process.wait(timeout=60) == 0
    finally:
        server.stop()
    log = server.log(tail=None)
    assert "stopping Spark" in log and "Traceback" not in log


def test_sigterm_to_spark_submit_does_not_leave_the_driver_serving(tiny_services):
    server = tiny_services["submit-sigterm"]
    try:
        server.wait_until_up()
        driver = server.driver_pid()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=60)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and os.path.exists(f"/proc/{driver}"):
            time.sleep(0.2)
        assert not os.path.exists(f"/proc/{driver}"), "the Python driver outlived spark-submit"
        with pytest.raises(requests.ConnectionError):
            requests.get(server.url + "/health", timeout=2)
    finally:
        server.stop()

