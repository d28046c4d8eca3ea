"""The Dockerfile built and run for real on a machine with no Docker engine and no image registry.

podman builds the image (``--isolation chroot``), on a stand-in for its base image made from
Debian's packages with mmdebstrap; buildah runs the image's contents (``buildah run --isolation
chroot --network host``), as ``podman run`` cannot start containers here. Both images are cached
in podman's store, labelled with a hash of their inputs, and rebuilt only when an input changed.
"""

import contextlib
import fcntl
import glob
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile

import pytest

from tests.support.dockerfile import build_image_tree, dockerfile_instructions

TOOLS = ("podman", "buildah", "mmdebstrap")
# The Dockerfile's FROM, as podman names it, and the Debian release its stand-in is made of.
BASE_IMAGE = "docker.io/library/python:3.11-slim-bookworm"
BASE_SUITE = "bookworm"
BASE_PACKAGES = "python3,python3-pip,python3-venv,ca-certificates"
BASE_CONTAINERFILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stand-in-base", "Containerfile")
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
INPUTS_LABEL = "org.recommender.test.inputs"
APP_REPOSITORY = "localhost/recommender-test"
BUILD_LOCK = os.path.join(tempfile.gettempdir(), "recommender-image-build.lock")
BASE_BUILD_SECONDS = 1200  # mmdebstrap downloads and unpacks about 100 Debian packages
APP_BUILD_SECONDS = 1800  # the JRE and pyspark (430 MB) come over the network


def require_tools():
    """Fail (not skip) when a tool is missing: the test is part of the suite, and .ci/run installs them."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: the Docker image test needs them "
                    f"(apt-get install {' '.join(TOOLS)}; .ci/run does)", pytrace=False)


def run(command, timeout=120, **kwargs):
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)


def image_label(image):
    """The inputs label of ``image``, or None when podman has no such image."""
    inspected = run(["podman", "image", "inspect", "--format", "{{json .Labels}}", image])
    return (json.loads(inspected.stdout) or {}).get(INPUTS_LABEL) if inspected.returncode == 0 else None


def image_inspect(image):
    """What podman knows of the image: its ``Config`` (Cmd, User, Env...), ``Healthcheck``..."""
    inspected = run(["podman", "image", "inspect", image])
    assert inspected.returncode == 0, inspected.stderr
    return json.loads(inspected.stdout)[0]


def digest(parts):
    sha = hashlib.sha256()
    for part in parts:
        sha.update(len(part).to_bytes(8, "big"))
        sha.update(part)
    return sha.hexdigest()


def read_bytes(path):
    with open(path, "rb") as file:
        return file.read()


def apt_sources():
    """The machine's apt sources, so that the stand-in's apt (and the image's) uses the same mirror."""
    files = glob.glob("/etc/apt/sources.list") + sorted(glob.glob("/etc/apt/sources.list.d/*.list")
                                                        + glob.glob("/etc/apt/sources.list.d/*.sources"))
    return [path for path in files if os.path.getsize(path) > 0]


def podman_build(context, log_path, inputs, *options):
    with open(log_path, "w", encoding="utf-8") as log:
        built = subprocess.run(
            ["podman", "build", "--isolation", "chroot", "--pull=never", "--format", "docker",
             "--label", f"{INPUTS_LABEL}={inputs}", *options, context],
            stdout=log, stderr=subprocess.STDOUT, timeout=APP_BUILD_SECONDS)
    if built.returncode != 0:
        pytest.fail(f"podman build failed ({built.returncode}):\n{read_bytes(log_path).decode()[-6000:]}", pytrace=False)


@contextlib.contextmanager
def build_lock():
    """One build at a time on the machine: two sessions building the same tag would race."""
    with open(BUILD_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_base_image(scratch):
    """The stand-in base image, built unless one with the same inputs is in podman's store."""
    sources = apt_sources()
    command = ["mmdebstrap", "--variant=apt", f"--include={BASE_PACKAGES}", BASE_SUITE, "rootfs.tar", *sources]
    inputs = digest([" ".join(command).encode(), read_bytes(BASE_CONTAINERFILE), read_bytes(CA_BUNDLE),
                     *(read_bytes(path) for path in sources)])
    if image_label(BASE_IMAGE) == inputs:
        return
    context = scratch / "base"
    context.mkdir()
    shutil.copy(BASE_CONTAINERFILE, context / "Containerfile")
    shutil.copy(CA_BUNDLE, context / "ca-certificates.crt")
    with open(scratch / "mmdebstrap.log", "w", encoding="utf-8") as log:
        # Standard input closed: mmdebstrap would read sources from it when it is not a terminal.
        made = subprocess.run(command, cwd=context, stdin=subprocess.DEVNULL, stdout=log,
                              stderr=subprocess.STDOUT, timeout=BASE_BUILD_SECONDS)
    if made.returncode != 0:
        pytest.fail(f"mmdebstrap failed ({made.returncode}):\n{read_bytes(scratch / 'mmdebstrap.log').decode()[-4000:]}",
                    pytrace=False)
    podman_build(str(context), scratch / "base-build.log", inputs, "-t", BASE_IMAGE)


def app_inputs(repo_root, scratch, build_args):
    """A hash of what the image is made of: the Dockerfile, what its COPYs copy, the base and build args."""
    _, app_dir = build_image_tree(repo_root, scratch / "inputs")
    parts = [read_bytes(os.path.join(repo_root, "Dockerfile")), image_label(BASE_IMAGE).encode(),
             json.dumps(sorted(build_args.items())).encode()]
    for directory, _, files in sorted(os.walk(app_dir)):
        for name in sorted(files):
            path = os.path.join(directory, name)
            parts += [os.path.relpath(path, app_dir).encode(), str(os.stat(path).st_mode).encode(), read_bytes(path)]
    return digest(parts)


def ensure_app_image(repo_root, scratch, **build_args):
    """The project's image built from its Dockerfile with ``build_args``; its tag. Cached by inputs."""
    instructions = dockerfile_instructions(os.path.join(repo_root, "Dockerfile"))
    base = [arguments for keyword, arguments in instructions if keyword == "FROM"][0]
    assert f"docker.io/library/{base}" == BASE_IMAGE, f"FROM {base}: the stand-in base is {BASE_IMAGE}"
    with build_lock():
        ensure_base_image(scratch)
        inputs = app_inputs(repo_root, scratch, build_args)
        tag = f"{APP_REPOSITORY}:{inputs[:16]}"
        if image_label(tag) != inputs:
            arguments = [word for name, value in sorted(build_args.items()) for word in ("--build-arg", f"{name}={value}")]
            podman_build(repo_root, scratch / "build.log", inputs, *arguments, "-t", tag)
    return tag


class Container:
    """A buildah working container of ``image``: commands run in it as the image runs them
    (its user, working directory and environment), on the machine's network."""

    def __init__(self, image):
        created = run(["buildah", "from", "--pull-never", "--quiet", image])
        assert created.returncode == 0, created.stderr
        self.name = created.stdout.strip()
        self.processes = []

    def command(self, argv, env=None, volumes=()):
        options = ["--isolation", "chroot", "--network", "host", "--hostname", "localhost"]
        options += [word for name, value in (env or {}).items() for word in ("--env", f"{name}={value}")]
        options += [word for host, inside in volumes for word in ("--volume", f"{host}:{inside}")]
        return ["buildah", "run", *options, self.name, "--", *argv]

    def run(self, argv, env=None, volumes=(), timeout=120):
        return run(self.command(argv, env, volumes), timeout=timeout)

    def start(self, argv, log_path, env=None, volumes=()):
        """``argv`` in the background, its output in ``log_path``; stopped by ``stop`` or ``remove``."""
        with open(log_path, "wb") as log:
            process = subprocess.Popen(self.command(argv, env, volumes), stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self.processes.append(process)
        return process

    @staticmethod
    def stop(process):
        """Stop what ``start`` started: buildah and what runs under it share a process group."""
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def remove(self):
        for process in self.processes:
            self.stop(process)
        run(["buildah", "rm", self.name])
