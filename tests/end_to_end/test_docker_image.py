"""The Docker image, checked by what it does rather than by its text.

No Docker here: the tests rebuild the image's /app from the Dockerfile's own COPY instructions
(and .dockerignore) in a temporary directory, run the entry points there, and run the
HEALTHCHECK command against live and dead ports.
"""

import fnmatch
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading

import pytest
from werkzeug.serving import make_server

from app import create_app
from tests.support.service_process import free_port

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


def read_text(path):
    with open(path, encoding="utf-8") as file:
        return file.read()


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


def docker_ignored(repo_root):
    patterns = [line.strip() for line in read_text(os.path.join(repo_root, ".dockerignore")).splitlines()]
    patterns = [pattern for pattern in patterns if pattern and not pattern.startswith("#")]

    def ignored(relative):
        parts = relative.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        return any(fnmatch.fnmatch(prefix, pattern) or fnmatch.fnmatch(prefix, pattern.removeprefix("**/"))
                   or fnmatch.fnmatch(part, pattern.removeprefix("**/")) for pattern in patterns
                   for prefix, part in zip(prefixes, parts))

    return ignored


def copy_source(repo_root, source, target, ignored):
    """Docker's COPY of one existing source: a directory's contents, or one file."""
    relative = os.path.relpath(source, repo_root)
    if ignored(relative):
        return
    if os.path.isdir(source):
        for name in os.listdir(source):
            copy_source(repo_root, os.path.join(source, name), os.path.join(target, name), ignored)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(source, target)


def build_image_tree(repo_root, root):
    """What the Dockerfile's WORKDIR and COPY instructions put in the image, under ``root``."""
    instructions = dockerfile_instructions(os.path.join(repo_root, "Dockerfile"))
    workdir = arguments_of(instructions, "WORKDIR")[-1]
    app_dir = os.path.join(root, workdir.lstrip("/"))
    ignored = docker_ignored(repo_root)
    for arguments in arguments_of(instructions, "COPY"):
        *sources, destination = [word for word in arguments.split() if not word.startswith("--")]
        target_dir = os.path.join(app_dir, destination)
        for pattern in sources:
            matches = glob.glob(os.path.join(repo_root, pattern))
            assert matches, f"COPY {pattern}: nothing in the repository matches"
            for source in matches:
                into_dir = destination.endswith("/") or len(sources) > 1 or "*" in pattern
                target = os.path.join(target_dir, os.path.basename(source.rstrip("/"))) if (
                    into_dir and not os.path.isdir(source)) else target_dir
                copy_source(repo_root, source, target, ignored)
    return workdir, app_dir


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
    for path in ("bin/train", "bin/serve", "model_params.json", "data/ml-latest-small/ratings.csv"):
        assert os.path.isfile(os.path.join(app_dir, path)), f"the image has no {path}"


def test_the_cmd_runs_a_script_of_the_image_that_accepts_its_arguments(image):
    workdir, app_dir, instructions = image
    command = json.loads(arguments_of(instructions, "CMD")[-1])
    assert command[0] == "spark-submit" and os.path.isfile(os.path.join(app_dir, command[1]))
    module = command[1].removesuffix(".py")
    parsed = run_in(app_dir, f"import json, sys, {module}; a = {module}.parse_args(sys.argv[1:]); "
                    "print(json.dumps([a.host, a.port, a.state_dir, a.dataset]))", *command[2:])
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


def test_the_image_does_not_run_as_root(image):
    _, _, instructions = image
    build_args = dict(argument.split("=", 1) for argument in arguments_of(instructions, "ARG"))
    user = arguments_of(instructions, "USER")[-1]
    assert build_args.get(user.strip("${}"), user) not in ("root", "0")


def test_the_python_dependencies_are_pinned(repo_root):
    lines = [line.split("#")[0].strip() for line in read_text(os.path.join(repo_root, "requirements.txt")).splitlines()]
    requirements = [line for line in lines if line]
    assert requirements and all("==" in line for line in requirements), requirements


# -- the HEALTHCHECK command, run as Docker runs it ------------------------------------------


def healthcheck(instructions, port):
    """Run the HEALTHCHECK's command with SageMaker's serve port set to ``port``; its exit status."""
    arguments = arguments_of(instructions, "HEALTHCHECK")[0]
    command = json.loads(arguments[arguments.index("CMD") + len("CMD"):])
    assert command[0] == "python3"  # the image's Python; here the venv's stands in for it
    env = dict(os.environ, SAGEMAKER_BIND_TO_PORT=str(port))
    return subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True, timeout=30).returncode


@pytest.fixture
def nothing_on_the_service_port():
    """The check also tries the service's port 5432: on this machine it must be free, or the
    dead-port answer would come from someone else's service."""
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", 5432)) != 0, "something listens on 127.0.0.1:5432"


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
