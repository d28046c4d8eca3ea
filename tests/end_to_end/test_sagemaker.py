"""SageMaker's container contract: train and serve on a temporary /opt/ml, /ping, /invocations."""

import ast
import fnmatch
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest
import requests

from recommender.storage import params_file
import server
from app import create_app
from tests.support.tiny_data import skipped_movie, write_tiny_dataset
from tests.support.waiting import wait_for
from engine import RecommendationEngine
from recommender.storage.model_store import ModelStore
from recommender.offline.sagemaker_training import MlLayout, find_channel, main, prepare, read_hyperparameters
from recommender.service.config import ServiceConfig
from recommender.service.lifecycle import Service
from tests.support.service_process import driver_pid, free_port

# The parameters of conftest's tiny_engine, whose known answers the trained model must give.
TINY_HYPERPARAMETERS = {"rank": "4", "iterations": "10", "reg_param": "0.05", "seed": "7", "bias_damping": "10"}


def ml_layout(root, hyperparameters=None, channels=("training",)):
    """A /opt/ml layout under ``root``: hyperparameters.json and the tiny dataset in each channel."""
    layout = MlLayout(str(root))
    if hyperparameters is not None:
        os.makedirs(os.path.dirname(layout.hyperparameters))
        with open(layout.hyperparameters, "w", encoding="utf-8") as file:
            file.write(hyperparameters if isinstance(hyperparameters, str) else json.dumps(hyperparameters))
    for channel in channels:
        write_tiny_dataset(root / "input" / "data" / channel)
    return layout


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


def read_text(path):
    with open(path, encoding="utf-8", errors="replace") as file:
        return file.read()


# -- hyperparameters and channels (no Spark) ---------------------------------------------


def test_string_hyperparameters_get_model_params_types_over_the_tuned_defaults(tmp_path):
    layout = ml_layout(tmp_path, {
        "rank": "4", "iterations": "10", "reg_param": "0.05", "implicit_prefs": "True", "alpha": "2",
        "_tuning_objective_metric": "rmse", "sagemaker_region": "eu-west-1",  # SageMaker's own: ignored
    }, channels=())
    params = read_hyperparameters(layout.hyperparameters)
    assert params == {
        **params_file.tuned_params().as_dict(),
        "rank": 4, "iterations": 10, "reg_param": 0.05, "implicit_prefs": True, "alpha": 2.0,
    }
    assert [type(params[name]) for name in ("rank", "reg_param", "implicit_prefs", "alpha")] == [int, float, bool, float]


def test_no_hyperparameters_file_means_the_tuned_parameters(tmp_path):
    assert read_hyperparameters(str(tmp_path / "hyperparameters.json")) == params_file.tuned_params().as_dict()


@pytest.mark.parametrize(
    "hyperparameters, fragments",
    [
        ({"rank": "four"}, ["rank", "an integer", "'four'"]),
        ({"iterations": "2.5"}, ["iterations", "'2.5'"]),
        ({"reg_param": "nan"}, ["reg_param", "finite number", "'nan'"]),
        ({"implicit_prefs": "yes"}, ["implicit_prefs", "true or false", "'yes'"]),
        ({"rank": "0"}, ["rank", "positive integer", "0"]),  # parses, but the engine refuses it
        ({"bias_damping": "-1"}, ["bias_damping", ">= 0"]),
        ({"ranks": "4"}, ["unknown hyperparameter 'ranks'", "rank"]),
        ('{"rank": "4"', ["hyperparameters.json", "not readable JSON"]),
        ('["rank", "4"]', ["JSON object"]),
    ],
)
def test_a_bad_hyperparameter_fails_the_job_naming_it(tmp_path, hyperparameters, fragments):
    layout = ml_layout(tmp_path, hyperparameters)
    assert main(["--ml-root", layout.root]) == 1  # fails before any Spark session starts
    failure = read_text(layout.failure)
    for fragment in fragments:
        assert fragment in failure
    assert not os.path.exists(layout.model)


@pytest.mark.parametrize(
    "channels, fragments",
    [
        ((), ["no input channel 'training'", "channels: none"]),
        (("train", "validation"), ["no input channel 'training'", "train, validation", "exactly one"]),
    ],
)
def test_a_missing_channel_fails_the_job_naming_it(tmp_path, channels, fragments):
    layout = ml_layout(tmp_path, {"rank": "4"}, channels)
    assert main(["--ml-root", layout.root]) == 1
    failure = read_text(layout.failure)
    for fragment in fragments:
        assert fragment in failure


def test_the_training_channel_or_else_the_only_one_is_used(tmp_path):
    several = ml_layout(tmp_path / "several", channels=("test", "training", "validation"))
    assert find_channel(several.channels) == os.path.join(several.channels, "training")
    single = ml_layout(tmp_path / "single", channels=("ratings",))
    assert find_channel(single.channels) == os.path.join(single.channels, "ratings")
    _, data_dir = prepare(single)
    assert data_dir == os.path.join(single.channels, "ratings")


def test_a_channel_without_movies_csv_fails_naming_the_file(tmp_path):
    layout = ml_layout(tmp_path, channels=("training",))
    os.remove(os.path.join(layout.channels, "training", "movies.csv"))
    assert main(["--ml-root", layout.root]) == 1
    assert "input channel 'training' has no movies.csv" in read_text(layout.failure)


def test_a_channel_holding_an_etl_parquet_dataset_is_accepted(tmp_path):
    layout = ml_layout(tmp_path, channels=("training",))
    channel = os.path.join(layout.channels, "training")
    for name in ("movies.csv", "ratings.csv"):
        os.remove(os.path.join(channel, name))
    with pytest.raises(Exception, match="or an etl.py Parquet dataset"):
        find_channel(layout.channels)
    with open(os.path.join(channel, "manifest.json"), "w", encoding="utf-8") as manifest:
        manifest.write("{}")
    assert find_channel(layout.channels) == channel


# -- /ping and /invocations on the tiny engine --------------------------------------------


def post_invocation(client, body):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post("/invocations", data=data, content_type="text/csv")  # any content type is read as JSON


def test_ping_answers_the_loaded_model_version(client, tiny_engine):
    response = client.get("/ping")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "modelVersion": tiny_engine.model.version}


def test_ping_and_invocations_are_503_until_a_model_is_loaded():
    client = create_app(RecommendationEngine()).test_client()
    for response in (client.get("/ping"), post_invocation(client, {"userId": 1})):
        assert response.status_code == 503 and response.headers["Retry-After"] == "5"
        assert "loading" in response.get_json()["error"]


def test_one_user_gets_exactly_the_top_n_routes_body(client):
    response = post_invocation(client, {"userId": 1, "count": 3})
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    assert body == client.get("/1/ratings/top/3").get_json()
    assert body["recommendations"][0]["movieId"] == skipped_movie(1)


def test_a_batch_answers_each_users_body_in_order(client):
    body = post_invocation(client, {"userIds": [11, 1, 777777], "count": 2, "minRatings": 0}).get_json()
    assert body == {"results": [client.get(f"/{user}/ratings/top/2").get_json() for user in (11, 1, 777777)]}
    assert [result["recommendations"][0]["movieId"] for result in body["results"][:2]] == [
        skipped_movie(11), skipped_movie(1),
    ]


def test_count_and_min_ratings_default_to_ten_and_the_configured_minimum(tiny_engine):
    client = create_app(tiny_engine).test_client()  # DEFAULT_MIN_RATINGS 25: more than any tiny movie has
    assert post_invocation(client, {"userId": 777777}).get_json()["recommendations"] == []
    popular = post_invocation(client, {"userId": 777777, "minRatings": 0}).get_json()["recommendations"]
    assert len(popular) == 10  # 12 movies have ratings: the default count of 10 is what stops the list
    capped = create_app(tiny_engine, {"MAX_COUNT": 4, "DEFAULT_MIN_RATINGS": 0}).test_client()
    assert len(post_invocation(capped, {"userId": 777777}).get_json()["recommendations"]) == 4


@pytest.mark.parametrize(
    "body, fragments",
    [
        (b"", ["not valid JSON"]),
        (b'{"userId": 1', ["not valid JSON"]),
        (b"\xff\xfe{", ["not valid JSON"]),
        ([1], ["JSON object"]),
        ({}, ['"userId": int or "userIds"']),
        ({"count": 3}, ['"userId": int or "userIds"']),
        ({"userId": 1, "userIds": [2]}, ["not both"]),
        ({"userId": 1, "top": 5}, ["unknown keys 'top'"]),
        ({"userId": "1"}, ["userId must be an integer from 0 to 2147483647", '"1"']),
        ({"userId": True}, ["userId", "true"]),
        ({"userId": 1.0}, ["userId", "1.0"]),
        ({"userId": -1}, ["userId", "-1"]),
        ({"userId": 2**31}, ["userId", "2147483648"]),
        ({"userId": None}, ["userId", "null"]),
        ({"userId": 1, "count": 0}, ["count must be an integer from 1 to 50"]),
        ({"userId": 1, "count": 51}, ["count", "51"]),
        ({"userId": 1, "count": "10"}, ["count", '"10"']),
        ({"userId": 1, "minRatings": -1}, ["minRatings", "-1"]),
        ({"userIds": []}, ["userIds must be a list of 1 to 100 user ids", "a list of 0"]),
        ({"userIds": 1}, ["userIds must be a list", "got 1"]),
        ({"userIds": [1, "2"]}, ["userIds[1] must be an integer", '"2"']),
        ({"userIds": [1, False]}, ["userIds[1]", "false"]),
    ],
)
def test_a_bad_invocation_is_a_400_naming_the_problem(client, body, fragments):
    response = post_invocation(client, body)
    assert response.status_code == 400 and response.mimetype == "application/json"
    message = response.get_json()["error"]
    for fragment in fragments:
        assert fragment in message


def test_a_batch_over_max_batch_users_is_refused(tiny_engine):
    client = create_app(tiny_engine, {"MAX_BATCH_USERS": 3}).test_client()
    assert post_invocation(client, {"userIds": [1, 2, 3]}).status_code == 200
    response = post_invocation(client, {"userIds": [1, 2, 3, 4]})
    assert response.status_code == 400 and "1 to 3 user ids, got a list of 4" in response.get_json()["error"]


def test_invocations_takes_only_post(client):
    response = client.get("/invocations")
    assert response.status_code == 405 and response.mimetype == "application/json"


# -- serving a model directory: server.py --model-dir, in process ------------------------


def model_dir_service(model_dir, state_dir):
    config = ServiceConfig(dataset=None, state_dir=str(state_dir), model_dir=str(model_dir))
    failures = []
    service = Service(None, config, on_failure=lambda: failures.append(True))  # no Spark: nothing to train
    service.load_or_train()
    return service, failures


def test_a_model_dir_is_served_as_it_is_and_posted_ratings_survive_a_restart(tiny_engine, tmp_path):
    # A log position from the log the model was trained with must not hide this state's ratings.
    ModelStore(tmp_path / "model").save(replace(tiny_engine.model, spark_model=None, log_position=50))
    service, failures = model_dir_service(tmp_path / "model", tmp_path / "state")
    assert not failures and service.retrainer is None
    assert service.engine.model.version == tiny_engine.model.version
    service.engine.add_ratings(0, [(1, 5.0), (2, 5.0), (3, 4.5)])
    service.close()

    restarted, failures = model_dir_service(tmp_path / "model", tmp_path / "state")
    assert not failures
    assert [r.movie.movie_id for r in restarted.engine.user_ratings(0)] == [1, 2, 3]
    top = restarted.engine.recommend(0, 3, 0)
    assert top.personalized and not {p.movie.movie_id for p in top.items} & {1, 2, 3}
    restarted.close()


def test_an_empty_model_dir_fails_start_up(tmp_path, caplog):
    service, failures = model_dir_service(tmp_path / "model", tmp_path / "state")
    assert failures == [True] and service.failed and service.engine.model is None
    assert "no saved model in" in caplog.text
    service.close()


# -- the Dockerfile -------------------------------------------------------------------------


def dockerfile_instructions(path):
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    instructions, current = [], ""
    for line in read_text(path).splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        keyword, _, arguments = (current + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        current = ""
    return instructions


def arguments_of(instructions, keyword):
    return [arguments for name, arguments in instructions if name == keyword]


def local_imports(repo_root, module):
    """Top-level modules of the repository that ``module`` imports, anywhere in its code."""
    tree = ast.parse(read_text(os.path.join(repo_root, module + ".py")))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return {name for name in names if os.path.isfile(os.path.join(repo_root, name + ".py"))
            or os.path.isdir(os.path.join(repo_root, name))}


def modules_needed(repo_root, roots):
    needed, pending = set(), list(roots)
    while pending:
        module = pending.pop()
        if module not in needed:
            needed.add(module)
            if os.path.isfile(os.path.join(repo_root, module + ".py")):
                pending.extend(local_imports(repo_root, module))
    return needed


def test_the_image_copies_every_file_the_entry_points_need(repo_root):
    instructions = dockerfile_instructions(os.path.join(repo_root, "Dockerfile"))
    copied = set()
    for arguments in arguments_of(instructions, "COPY"):
        *sources, _ = [word for word in arguments.split() if not word.startswith("--")]
        copied.update(source.rstrip("/") for source in sources)
    scripts = [os.path.join("bin", name) for name in ("train", "serve")]
    entry_points = {"server"} | {
        name for script in scripts for name in re.findall(r"(\w+)\.py\b", read_text(os.path.join(repo_root, script)))
    }
    assert entry_points == {"server", "sagemaker_train"}
    modules = modules_needed(repo_root, entry_points)
    assert {"app", "server", "sagemaker_train", "recommender"} <= modules
    needed = [m if os.path.isdir(os.path.join(repo_root, m)) else m + ".py" for m in sorted(modules)]
    needed += scripts + ["model_params.json", "requirements.txt"]
    missing = [path for path in needed if not any(fnmatch.fnmatch(part, pattern)
                                                  for part in (path, os.path.dirname(path)) for pattern in copied)]
    assert not missing, f"the Dockerfile does not COPY {missing}"
    ignored = [line.strip() for line in read_text(os.path.join(repo_root, ".dockerignore")).splitlines()]
    assert not [path for path in needed if path.split("/")[0] in ignored], ".dockerignore drops a needed file"


def test_the_image_runs_the_service_as_documented(repo_root):
    instructions = dockerfile_instructions(os.path.join(repo_root, "Dockerfile"))
    assert "slim" in arguments_of(instructions, "FROM")[0]
    assert any("openjdk-17-jre-headless" in run for run in arguments_of(instructions, "RUN"))
    build_args = dict(argument.split("=", 1) for argument in arguments_of(instructions, "ARG"))
    user = arguments_of(instructions, "USER")[-1]
    user = build_args.get(user.strip("${}"), user) if user.startswith("$") else user
    assert user not in ("root", "0")
    assert set(arguments_of(instructions, "EXPOSE")[0].split()) == {"5432", "8080"}
    volumes = json.loads(arguments_of(instructions, "VOLUME")[0])
    assert "/app/" + os.path.relpath(server.DEFAULT_STATE_DIR, repo_root) in volumes
    assert "/app/" + os.path.relpath(server.DEFAULT_DATASET, repo_root).split(os.sep)[0] in volumes
    assert any(env.startswith('PATH="/app/bin:') for env in arguments_of(instructions, "ENV"))
    assert "/health" in arguments_of(instructions, "HEALTHCHECK")[0]
    assert json.loads(arguments_of(instructions, "CMD")[-1]) == ["spark-submit", "server.py", "--host", "0.0.0.0"]
    for script in ("train", "serve"):
        assert os.stat(os.path.join(repo_root, "bin", script)).st_mode & 0o777 == 0o755


def test_the_python_dependencies_are_pinned(repo_root):
    lines = [line.split("#")[0].strip() for line in read_text(os.path.join(repo_root, "requirements.txt")).splitlines()]
    requirements = [line for line in lines if line]
    assert requirements and all("==" in line for line in requirements), requirements


def healthcheck_command(repo_root):
    arguments = arguments_of(dockerfile_instructions(os.path.join(repo_root, "Dockerfile")), "HEALTHCHECK")[0]
    return json.loads(arguments[arguments.index("CMD") + len("CMD"):])


# -- train and serve as SageMaker runs them ----------------------------------------------


@pytest.fixture(scope="module")
def trained(repo_root, tmp_path_factory):
    """``bin/train`` on the tiny dataset in a temporary /opt/ml, with string hyperparameters."""
    root = tmp_path_factory.mktemp("sagemaker") / "ml"
    layout = ml_layout(root, TINY_HYPERPARAMETERS)
    started = time.monotonic()
    returncode = run_bin_train(repo_root, layout, root.parent / "train.log")
    return layout, returncode, time.monotonic() - started, read_text(root.parent / "train.log")


def test_train_saves_the_model_with_the_hyperparameters(trained):
    layout, returncode, _, log = trained
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
    """``bin/serve`` on the model ``bin/train`` saved, on a free port instead of 8080."""
    layout, returncode, _, _ = trained
    assert returncode == 0
    scratch = tmp_path_factory.mktemp("serve")
    port = free_port()
    env = spark_env(RECOMMENDER_ML_ROOT=layout.root, SAGEMAKER_BIND_TO_PORT=str(port))
    with open(scratch / "serve.log", "wb") as log:
        process = subprocess.Popen(
            [os.path.join(repo_root, "bin", "serve"), "--state-dir", str(scratch / "state")],
            env=env, cwd=scratch, stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def pinged():
        assert process.poll() is None, read_text(scratch / "serve.log")[-5000:]
        try:
            return requests.get(url + "/ping", timeout=2).status_code == 200
        except (requests.ConnectionError, requests.Timeout):
            return False

    try:
        wait_for(pinged, timeout=300, interval=0.25)
        yield url, port, scratch / "state", process, scratch / "serve.log"
    finally:  # the last test stops it gracefully
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_pings_and_recommends_from_the_trained_model(serving, trained):
    url, *_ = serving
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
    url, _, state_dir, *_ = serving
    posted = requests.post(url + "/0/ratings", data=b"1,5\n2,5\n3,4.5\n")
    assert posted.status_code == 201
    logged = read_text(os.path.join(state_dir, "ratings-log.csv")).splitlines()[1:]
    assert [line.split(",")[:3] for line in logged] == [["0", "1", "5.0"], ["0", "2", "5.0"], ["0", "3", "4.5"]]
    top = requests.post(url + "/invocations", json={"userId": 0, "minRatings": 0}).json()
    assert top["personalized"] is True and not {r["movieId"] for r in top["recommendations"]} & {1, 2, 3}
    health = requests.get(url + "/health").json()
    assert health["training"] is None and health["model"]["acceptedRatings"] == 3


def test_the_dockerfile_healthcheck_passes_on_serves_port(serving, repo_root):
    _, port, *_ = serving
    command = healthcheck_command(repo_root)
    assert command[0] == "python3"
    result = subprocess.run(
        [sys.executable, *command[1:]], env=dict(os.environ, SAGEMAKER_BIND_TO_PORT=str(port)),
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 0, result.stderr


def test_serve_stops_cleanly_on_sigterm(serving):
    *_, process, log_path = serving
    os.kill(driver_pid(process), signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    log = read_text(log_path)
    assert "stopping Spark" in log and "Traceback" not in log
