"""``spark-submit server.py`` as a child process: started, awaited, signalled and stopped.

Used by the end-to-end tests and the benchmarks, which talk to the service over HTTP.
"""

import os
import socket
import subprocess
import sys
import time

import requests

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# What every service a test starts runs with: no Spark web UI (a Jetty and a port per JVM that no
# test looks at) and the JVM's log at warnings, as `make run` and the image start it.
TEST_SPARK_SUBMIT_OPTIONS = (
    "--conf", "spark.ui.enabled=false", "--conf", "spark.ui.showConsoleProgress=false",
    "--driver-java-options", "-Dlog4j2.configurationFile=" + os.path.join(REPO_ROOT, "conf", "log4j2.properties"),
)
# A model trained in a few seconds for the services whose tests are about something other than
# its answers (durability, signals, the API contract, replays): the tiny dataset's ranks and few
# iterations. Tests of known answers train with their own parameters.
QUICK_TRAINING = ("--rank", "4", "--iterations", "3", "--ranking-rank", "4", "--ranking-iterations", "3")


class ServiceFailed(RuntimeError):
    """The service exited or did not come up in time; the message ends with its log."""


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def driver_pid(process, script="server.py"):
    """The Python driver of a spark-submit ``process``: the child of its JVM that runs ``script``.

    The JVM has other, short-lived children (Hadoop runs shell commands), so the
    child is picked by its command line.
    """
    children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout
    for pid in children.split():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if script.encode() in cmdline.read():
                    return int(pid)
        except FileNotFoundError:
            continue
    raise ServiceFailed(f"no {script} child of spark-submit (pid {process.pid})")


class ServiceProcess:
    """The service under ``spark-submit``, logging to ``log_path``.

    ``server_args`` are passed to server.py; ``--port`` is chosen free unless given.
    The spark-submit and Python of the running interpreter's environment are used;
    ``env`` adds to (or overrides) the inherited environment variables.
    """

    def __init__(self, log_path, *server_args, master="local[2]", env=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = str(log_path)
        venv_bin = os.path.dirname(sys.executable)
        environment = dict(os.environ, PATH=venv_bin + os.pathsep + os.environ["PATH"], PYSPARK_PYTHON=sys.executable)
        environment.update(env or {})
        command = [
            os.path.join(venv_bin, "spark-submit"), "--master", master, *TEST_SPARK_SUBMIT_OPTIONS,
            "server.py", "--port", str(self.port), *server_args,
        ]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, cwd=REPO_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)

    def wait_until_up(self, timeout=300):
        """Wait for ``/ready`` to say 200 and return the JSON body of ``/health``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServiceFailed(f"the service exited with {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url + "/ready", timeout=2).status_code == 200:
                    return requests.get(self.url + "/health", timeout=5).json()
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or busy starting
                pass
            time.sleep(0.25)
        raise ServiceFailed(f"the service was not ready after {timeout}s:\n{self.log()}")

    def driver_pid(self):
        """The Python driver: the child of spark-submit's JVM that runs server.py."""
        return driver_pid(self.process)

    def log(self, tail=5000):
        with open(self.log_path, encoding="utf-8", errors="replace") as log:
            return log.read()[-tail:] if tail else log.read()

    def stop(self):
        """Kill the service if it is still running (tests stop it gracefully themselves)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
