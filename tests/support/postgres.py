"""A real PostgreSQL server in a temporary directory for the tests: initdb, pg_ctl start, stop.

Debian's server binaries are in /usr/lib/postgresql/<version>/bin (``apt-get install postgresql``,
which ``.ci/run`` does when they are missing). The server refuses to run as root, so when
the tests run as root it runs as the ``postgres`` user (runuser).
"""

import glob
import os
import shutil
import subprocess
import tempfile

import psycopg

from tests.support.service_process import free_port

SERVER_BINARIES = "/usr/lib/postgresql/*/bin"


def server_binary(name):
    found = sorted(glob.glob(os.path.join(SERVER_BINARIES, name)))
    if not found:
        raise RuntimeError(f"no PostgreSQL {name} in {SERVER_BINARIES}: apt-get install postgresql")
    return found[-1]


class PostgresServer:
    """A PostgreSQL server on a free local port with its data in a new temporary directory.

    The directory is made by ``tempfile`` rather than under pytest's ``tmp_path``, which the
    ``postgres`` user cannot enter; ``remove`` deletes it.
    """

    def __init__(self):
        self.directory = tempfile.mkdtemp(prefix="recommender-pg-")
        self.data = os.path.join(self.directory, "data")
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as_user:
            shutil.chown(self.directory, "postgres")
        self._run(server_binary("initdb"), "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def _run(self, *command):
        done = subprocess.run([*self._as_user, *command], capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"{os.path.basename(command[0])} failed: {done.stderr.strip() or done.stdout.strip()}")

    def start(self):
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=on"
        self._run(server_binary("pg_ctl"), "-D", self.data, "-o", options, "-l",
                  os.path.join(self.directory, "server.log"), "-w", "start")

    def stop(self, mode="fast"):
        if not os.path.exists(os.path.join(self.data, "postmaster.pid")):
            return  # not running
        self._run(server_binary("pg_ctl"), "-D", self.data, "-m", mode, "-w", "stop")

    def remove(self):
        shutil.rmtree(self.directory, ignore_errors=True)

    def new_database(self, name):
        """A fresh database on this server: its URL."""
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
            connection.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"
