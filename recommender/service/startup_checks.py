"""Checks the entry points run before starting Spark, so common mistakes get one clear line.

Each check raises StartupError (the dataset and file checks are recommender/datasets/checks.py) with a message saying what is wrong and what was expected;
``run_checks`` turns it into one line ``<command>: error: ...`` and exit 2. ``fail_cleanly`` turns
any later failure into one line too, with the traceback only under ``--verbose``.
"""

import contextlib
import errno
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile

from recommender.datasets.checks import StartupError
from recommender.spark_job import describe as one_line

log = logging.getLogger(__name__)

MINIMUM_JAVA = 17


def check_port_free(host, port):
    """Nothing else listens on ``host:port`` (checked before Spark spends its start-up time)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as cheroot binds
            probe.bind((host, port))
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise StartupError(f"port {port} on {host} is already in use; stop the other server or pick --port") from None
        raise StartupError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None


def check_writable_directory(path, what="state directory"):
    """``path`` exists (or can be made) and a file can be created in it."""
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise StartupError(f"{what} {path} cannot be written: {error.strerror or error}") from None


def java_command():
    home = os.environ.get("JAVA_HOME")
    if home:
        return os.path.join(home, "bin", "java")
    return shutil.which("java")


def java_major(version_output):
    """17 of 'openjdk version "17.0.15"', 8 of 'java version "1.8.0_392"'; None if unrecognised."""
    found = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def check_java():
    """A Java of at least MINIMUM_JAVA runs (Spark 4 needs it)."""
    java = java_command()
    if not java or not os.path.exists(java):
        raise StartupError(f"no Java found: Spark needs Java {MINIMUM_JAVA} or newer on PATH or in JAVA_HOME")
    try:
        output = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired) as error:
        raise StartupError(f"{java} does not run: {error}") from None
    major = java_major(output)
    if major is None or major < MINIMUM_JAVA:
        found = output.strip().splitlines()[0] if output.strip() else "an unknown version"
        raise StartupError(f"{java} is {found}; Spark needs Java {MINIMUM_JAVA} or newer")


def check_java_unless_running():
    """Under spark-submit the JVM already runs (its own launcher would have failed first)."""
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        check_java()


def run_checks(parser, *checks):
    """Run the checks (callables); the first failure ends the command with one line and exit 2."""
    for check in checks:
        try:
            check()
        except StartupError as error:
            print(f"{parser.prog}: error: {error}", file=sys.stderr, flush=True)
            raise SystemExit(2) from None


@contextlib.contextmanager
def fail_cleanly(verbose):
    """Any failure of the block ends the command with one line (a traceback only with ``verbose``), exit 1."""
    try:
        yield
    except (SystemExit, KeyboardInterrupt):
        raise
    except Exception as error:  # the command cannot go on; say why in one line
        if verbose:
            log.exception("failed")
        print(f"error: {one_line(error)}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None

