"""Start-up mistakes end the commands with one clear line and a non-zero exit, before Spark does any work."""

import os
import socket
import stat
import subprocess
import sys

import pytest

from recommender.service.startup_checks import StartupError, check_java
from tests.support.service_process import REPO_ROOT, free_port

VENV_BIN = os.path.dirname(sys.executable)


def spark_submit(*args):
    environment = dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ["PATH"], PYSPARK_PYTHON=sys.executable)
    return subprocess.run(
        [os.path.join(VENV_BIN, "spark-submit"), "--master", "local[1]", *args],
        cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=180,
    )


def assert_one_clear_line(result, script, *words):
    assert result.returncode == 2
    output = result.stdout + result.stderr
    errors = [line for line in output.splitlines() if line.startswith(f"{script}: error:")]
    assert len(errors) == 1 and all(word in errors[0] for word in words), output
    assert "Traceback" not in output and "\tat " not in output and "usage:" not in output


def test_a_missing_dataset_says_which_layout_was_expected(tmp_path):
    result = spark_submit("server.py", "--dataset", "/nonexistent", "--state-dir", str(tmp_path))
    assert_one_clear_line(result, "server.py", "/nonexistent does not exist", "ratings.csv and movies.csv")


def test_a_dataset_lacking_its_files_names_them(tmp_path):
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n")
    result = spark_submit("evaluate.py", "--dataset", str(tmp_path))
    assert_one_clear_line(result, "evaluate.py", "lacks movies.csv", "MovieLens CSV directory")


def test_a_port_in_use_is_said_before_spark_starts(tmp_path):
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = spark_submit("server.py", "--port", str(port), "--state-dir", str(tmp_path))
    assert_one_clear_line(result, "server.py", f"port {port}", "already in use")


def test_a_state_directory_that_cannot_be_written(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = spark_submit("server.py", "--state-dir", str(blocker / "state"))
    assert_one_clear_line(result, "server.py", "state directory", "cannot be written")


def test_missing_training_files_of_tune(tmp_path):
    result = spark_submit("tune.py", "--train", str(tmp_path / "train.csv"), "--test", str(tmp_path / "test.csv"))
    assert_one_clear_line(result, "tune.py", "training ratings file", "does not exist")


def fake_java(directory, version_line):
    java = directory / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    java.chmod(java.stat().st_mode | stat.S_IEXEC)
    return directory


@pytest.mark.parametrize("version_line", ['openjdk version "11.0.22" 2024-01-16', 'java version "1.8.0_392"'])
def test_a_too_old_java_is_refused(tmp_path, monkeypatch, version_line):
    monkeypatch.setenv("JAVA_HOME", str(fake_java(tmp_path, version_line)))
    with pytest.raises(StartupError, match="needs Java 17 or newer"):
        check_java()


def test_no_java_is_said(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-such-jdk"))
    with pytest.raises(StartupError, match="no Java found"):
        check_java()


def test_java_17_passes(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(fake_java(tmp_path, 'openjdk version "17.0.15" 2025-04-15')))
    check_java()
