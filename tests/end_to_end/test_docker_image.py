"""The Docker image, checked by what it does rather than by its text.

Quick checks first: the image's /app rebuilt from the Dockerfile's own COPY instructions (and
.dockerignore) in a temporary directory, the entry points run there, and the HEALTHCHECK command
run against live and dead ports. Then the image itself (slow): built by podman on a stand-in for
its base image and run with buildah (tests/support/container_image.py), as Docker would run it.
"""

import json
import os
import re
import subprocess
import sys
import threading

import pytest
import requests
from werkzeug.serving import make_server

from app import create_app
from recommender.storage.model_store import ModelStore
from tests.end_to_end.test_sagemaker import TINY_HYPERPARAMETERS
from tests.support.container_image import Container, ensure_app_image, image_inspect, require_tools
from tests.support.dockerfile import arguments_of, build_image_tree, dockerfile_instructions, read_text
from tests.support.sagemaker_layout import ml_layout
from tests.support.service_process import free_port
from tests.support.tiny_data import skipped_movie
from tests.support.waiting import wait_for

# Run inside the image's /app with nothing of the repository on sys.path: every module the
# entry points import, at the top or inside a function, must resolve there.
IMPORTS_RESOLVE = """
import ast, importlib, importlib.util, json, os, sys
local = set(sys.argv[1].split(","))
for name in sys.argv[2].split(","):
    importlib.import_module(name)
missing = set()
for directory, _, files in os.walk("."):
    for file in files:
        if file.endswith(".py"):
            with open(os.path.join(directory, file), encoding="utf-8") as source:
                tree = ast.parse(source.read())
            for node in ast.walk(tree):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                    [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
                missing.update(n for n in names if n.split(".")[0] in local and importlib.util.find_spec(n) is None)
print(json.dumps(sorted(missing)))
"""


def run_in(app_dir, code, *args):
    """``python -c code`` in ``app_dir`` with only it (and the venv's packages) importable."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-c", code, *args], cwd=app_dir, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def image(repo_root, tmp_path):
    workdir, app_dir = build_image_tree(repo_root, tmp_path)
    return workdir, app_dir, dockerfile_instructions(os.path.join(repo_root, "Dockerfile"))


def entry_point_modules(repo_root, instructions):
    """The Python scripts the image runs: the CMD's, and those bin/train and bin/serve exec."""
    scripts = {word for word in json.loads(arguments_of(instructions, "CMD")[-1]) if word.endswith(".py")}
    for name in ("train", "serve"):
        scripts.update(re.findall(r"(\w+\.py)\b", read_text(os.path.join(repo_root, "bin", name))))
    return sorted(script[: -len(".py")] for script in scripts)


def test_every_module_the_entry_points_import_is_in_the_image(repo_root, image):
    _, app_dir, instructions = image
    entry_points = entry_point_modules(repo_root, instructions)
    assert entry_points == ["sagemaker_train", "server"]
    local = {name.removesuffix(".py") for name in os.listdir(repo_root)
             if name.endswith(".py") or os.path.isfile(os.path.join(repo_root, name, "__init__.py"))}
    result = run_in(app_dir, IMPORTS_RESOLVE, ",".join(sorted(local)), ",".join(entry_points + ["app", "engine"]))
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout) == [], "imported but not copied into the image"
    for path in ("bin/train", "bin/serve", "conf/log4j2.properties", "model_params.json",
                 "data/ml-latest-small/ratings.csv"):
        assert os.path.isfile(os.path.join(app_dir, path)), f"the image has no {path}"


def test_the_cmd_runs_a_script_of_the_image_that_accepts_its_arguments(image):
    workdir, app_dir, instructions = image
    command = json.loads(arguments_of(instructions, "CMD")[-1])
    script = next(index for index, word in enumerate(command) if word.endswith(".py"))
    assert command[0] == "spark-submit" and os.path.isfile(os.path.join(app_dir, command[script]))
    module = command[script].removesuffix(".py")
    parsed = run_in(app_dir, f"import json, sys, {module}; a = {module}.parse_args(sys.argv[1:]); "
                    "print(json.dumps([a.host, a.port, a.state_dir, a.dataset]))", *command[script + 1:])
    assert parsed.returncode == 0, parsed.stderr[-3000:]
    host, port, state_dir, dataset = json.loads(parsed.stdout)
    assert host == "0.0.0.0"  # reachable through the published port
    assert str(port) in arguments_of(instructions, "EXPOSE")[0].split()


def test_the_volumes_are_the_servers_default_state_and_data_directories(image):
    workdir, app_dir, instructions = image
    parsed = run_in(app_dir, "import json, server; a = server.parse_args([]); print(json.dumps([a.state_dir, a.dataset]))")
    assert parsed.returncode == 0, parsed.stderr[-3000:]
    state_dir, dataset = (os.path.join(workdir, os.path.relpath(path, app_dir)) for path in json.loads(parsed.stdout))
    volumes = json.loads(arguments_of(instructions, "VOLUME")[0])
    assert state_dir in volumes
    assert any(os.path.commonpath([dataset, volume]) == volume for volume in volumes if volume != state_dir)


def test_the_python_dependencies_are_pinned(repo_root):
    lines = [line.split("#")[0].strip() for line in read_text(os.path.join(repo_root, "requirements.txt")).splitlines()]
    requirements = [line for line in lines if line]
    assert requirements and all("==" in line for line in requirements), requirements


# -- the HEALTHCHECK command, run as Docker runs it ------------------------------------------


def healthcheck_command(instructions):
    arguments = arguments_of(instructions, "HEALTHCHECK")[0]
    return json.loads(arguments[arguments.index("CMD") + len("CMD"):])


def healthcheck(instructions, port):
    """Run the HEALTHCHECK's command with SageMaker's serve port set to ``port``; its exit status."""
    command = healthcheck_command(instructions)
    assert command[0] == "python3"  # the image's Python; here the venv's stands in for it
    env = dict(os.environ, SAGEMAKER_BIND_TO_PORT=str(port))
    return subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True, timeout=30).returncode


@pytest.fixture
def nothing_on_the_service_port():
    """The check also tries the service's port 5432: nothing on this machine may answer /health
    there, or the dead-port answer would come from someone else's service. (Something that is not
    HTTP, such as PostgreSQL, counts as down for the check, and so does not matter.)"""
    try:
        answered = requests.get("http://127.0.0.1:5432/health", timeout=3).ok
    except requests.RequestException:
        answered = False
    assert not answered, "something answers /health on 127.0.0.1:5432"


@pytest.fixture
def live_app():
    """Start a WSGI app on a free port in a thread; stopped afterwards."""
    servers = []

    def start(wsgi_app):
        server = make_server("127.0.0.1", free_port(), wsgi_app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_port

    yield start
    for server in servers:
        server.shutdown()


def test_the_healthcheck_passes_against_the_running_app(image, live_app, tiny_engine, nothing_on_the_service_port):
    _, _, instructions = image
    assert healthcheck(instructions, live_app(create_app(tiny_engine))) == 0


def test_the_healthcheck_fails_on_a_dead_port_and_on_an_error_answer(image, live_app, nothing_on_the_service_port):
    _, _, instructions = image
    assert healthcheck(instructions, free_port()) == 1

    def broken(environ, start_response):
        start_response("500 Internal Server Error", [("Content-Type", "application/json")])
        return [b'{"error": "internal server error"}']

    assert healthcheck(instructions, live_app(broken)) == 1


# Run in a network namespace of its own: a server that is not HTTP (PostgreSQL's port) on 5432,
# the app's /health on the SageMaker port, and the HEALTHCHECK command; prints its exit status.
NOT_HTTP_ON_THE_SERVICE_PORT = """
import json, os, socket, subprocess, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Health(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b'{}')

def not_http(listener):
    while True:
        connection, _ = listener.accept()
        connection.sendall(b"\\x00not http\\r\\n\\r\\n"); connection.close()

listener = socket.create_server(("127.0.0.1", 5432))
threading.Thread(target=not_http, args=(listener,), daemon=True).start()
app = ThreadingHTTPServer(("127.0.0.1", 8080), Health)
threading.Thread(target=app.serve_forever, daemon=True).start()
env = dict(os.environ, SAGEMAKER_BIND_TO_PORT="8080")
print(subprocess.run([sys.executable, *json.loads(sys.argv[1])], env=env, timeout=30).returncode)
"""


def test_the_healthcheck_passes_when_something_that_is_not_http_holds_the_service_port(image):
    _, _, instructions = image
    command = healthcheck_command(instructions)
    isolated = subprocess.run(
        ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$0" "$@"', sys.executable, "-c",
         NOT_HTTP_ON_THE_SERVICE_PORT, json.dumps(command[1:])], capture_output=True, text=True, timeout=60)
    assert isolated.returncode == 0, isolated.stderr[-3000:]
    assert isolated.stdout.strip() == "0"


# -- the image itself, built by podman and run by buildah ------------------------------------

# Spark's JVM without conf/log4j2.properties: its default profile announces itself and logs INFO.
SPARK_DEFAULT_LOGGING = ("Using Spark's default log4j profile", " INFO SparkContext:")
IMAGE_USER_UID = "10001"  # the Dockerfile's useradd


def wait_for_status(process, url, log_path, timeout=600):
    """Wait until ``url`` answers 200 while ``process`` (a service in a container) runs."""
    def answered():
        assert process.poll() is None, f"exited with {process.returncode}:\n{read_text(log_path)[-5000:]}"
        try:
            return requests.get(url, timeout=2).status_code == 200
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or busy starting
            return False

    wait_for(answered, timeout=timeout, interval=0.5)


def assert_jvm_logged_warnings_only(log):
    assert not [line for line in log.splitlines() if any(mark in line for mark in SPARK_DEFAULT_LOGGING)], log[-3000:]


@pytest.fixture(scope="module")
def built_image(repo_root, tmp_path_factory):
    require_tools()
    return ensure_app_image(repo_root, tmp_path_factory.mktemp("image"))


@pytest.fixture
def container(built_image):
    running = Container(built_image)
    yield running
    running.remove()


@pytest.fixture(scope="module")
def default_service(built_image, tmp_path_factory):
    """The image's default command on the bundled data, on a free port instead of 5432."""
    container = Container(built_image)
    port = free_port()
    log_path = tmp_path_factory.mktemp("default-command") / "service.log"
    process = container.start([*image_inspect(built_image)["Config"]["Cmd"], "--port", str(port)], log_path)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_status(process, url + "/ready", log_path)
        yield url, port, log_path
    finally:
        container.remove()


@pytest.mark.slow
def test_the_default_command_serves_the_bundled_data(default_service):
    url, _, log_path = default_service
    model = requests.get(url + "/health").json()["model"]
    assert (model["users"], model["movies"], model["ratings"]) == (610, 9742, 100836)
    top = requests.get(url + "/1/ratings/top/10").json()
    assert top["personalized"] is True and len(top["recommendations"]) == 10
    assert all(item["title"] and item["ratingsCount"] >= 25 for item in top["recommendations"])
    assert_jvm_logged_warnings_only(read_text(log_path))


@pytest.mark.slow
def test_the_healthcheck_of_the_image_passes_against_the_service_and_fails_against_none(
        built_image, default_service, container, nothing_on_the_service_port):
    _, port, _ = default_service
    check = image_inspect(built_image)["Healthcheck"]["Test"]
    assert check[0] == "CMD"
    assert container.run(check[1:], env={"SAGEMAKER_BIND_TO_PORT": str(port)}).returncode == 0
    assert container.run(check[1:], env={"SAGEMAKER_BIND_TO_PORT": str(free_port())}).returncode == 1


@pytest.mark.slow
def test_the_image_runs_as_its_own_user_unless_built_for_root(repo_root, built_image, container, tmp_path):
    assert image_inspect(built_image)["Config"]["User"] == "recommender"
    assert container.run(["id", "-u"]).stdout.strip() == IMAGE_USER_UID
    as_root = Container(ensure_app_image(repo_root, tmp_path, RUN_AS="root"))
    try:
        assert as_root.run(["id", "-u"]).stdout.strip() == "0"
    finally:
        as_root.remove()


@pytest.fixture(scope="module")
def trained_in_image(built_image, tmp_path_factory):
    """``train`` in the image on a small /opt/ml layout mounted at /opt/ml, as SageMaker runs it."""
    root = tmp_path_factory.mktemp("sagemaker-image") / "ml"
    layout = ml_layout(root, TINY_HYPERPARAMETERS)
    subprocess.run(["chown", "-R", f"{IMAGE_USER_UID}:{IMAGE_USER_UID}", str(root)], check=True)
    container = Container(built_image)
    try:
        trained = container.run(["train"], volumes=[(str(root), "/opt/ml")], timeout=900)
    finally:
        container.remove()
    return layout, trained


@pytest.mark.slow
def test_train_in_the_image_writes_a_model(trained_in_image):
    layout, trained = trained_in_image
    assert trained.returncode == 0, (trained.stdout + trained.stderr)[-5000:]
    assert len(ModelStore(layout.model).versions()) == 1
    assert ModelStore(layout.model).load_newest().item_factors.shape == (13, 4)
    assert_jvm_logged_warnings_only(trained.stdout + trained.stderr)


@pytest.mark.slow
def test_serve_in_the_image_answers_ping_and_invocations_from_the_trained_model(
        trained_in_image, container, tmp_path):
    layout, trained = trained_in_image
    assert trained.returncode == 0, (trained.stdout + trained.stderr)[-5000:]
    port = free_port()
    log_path = tmp_path / "serve.log"
    process = container.start(["serve"], log_path, env={"SAGEMAKER_BIND_TO_PORT": str(port)},
                              volumes=[(layout.root, "/opt/ml")])
    url = f"http://127.0.0.1:{port}"
    wait_for_status(process, url + "/ping", log_path)
    assert requests.get(url + "/ping").json() == {"status": "ok", "modelVersion": ModelStore(layout.model).versions()[0]}
    one = requests.post(url + "/invocations", json={"userId": 1, "count": 1, "minRatings": 0})
    assert one.status_code == 200 and one.json()["recommendations"][0]["movieId"] == skipped_movie(1)
    assert_jvm_logged_warnings_only(read_text(log_path))
