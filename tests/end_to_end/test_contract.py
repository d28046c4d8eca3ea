"""Schemathesis fuzzes a live ``spark-submit server.py`` against the OpenAPI document it serves.

Its CLI runs as a subprocess with the repository's schemathesis.toml (checks: no server
error, documented status codes, content types and response schemas, invalid input
rejected), once against the service as it starts by default and once with a key
configured and sent. Each run must find nothing and must have tested every documented
operation.
"""

import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import pytest
import requests

from tests.support.service_process import QUICK_TRAINING, REPO_ROOT, ServiceProcess

KEY = "contract-test-key"
ST = os.path.join(os.path.dirname(sys.executable), "st")


@pytest.fixture(scope="module")
def services(tmp_path_factory, saved_tiny_model):
    """Both services, launched together so the second starts up while the first is fuzzed; both
    start from the saved tiny model (the contract is the point, not training at start-up)."""
    scratch = tmp_path_factory.mktemp("contract")
    key_file = scratch / "key"
    key_file.write_text(KEY)
    started = {
        "open": launch(scratch / "open", saved_tiny_model),
        # The admin token file until API keys replace it: the key /admin/retrain (and writes) need.
        "keyed": launch(scratch / "keyed", saved_tiny_model, "--api-keys-file", str(key_file)),
    }
    yield started
    for server in started.values():
        server.stop()


def launch(directory, saved_model, *server_args):
    directory.mkdir()
    return ServiceProcess(
        directory / "server.log", "--dataset", str(saved_model.dataset), *QUICK_TRAINING,
        "--state-dir", str(saved_model.copy_state(directory / "state")), *server_args,
    )


def fuzz(server, directory, *st_args):
    """Run ``st run`` on the server's /openapi.json; return (its output, the operations it tested)."""
    report = directory / "junit.xml"
    command = [
        ST, "--config-file", os.path.join(REPO_ROOT, "schemathesis.toml"), "run", server.url + "/openapi.json",
        "--workers", "1", "--no-color", "--report", "junit", "--report-junit-path", str(report), *st_args,
    ]
    # In the scratch directory: st keeps its replay cache in the working directory.
    result = subprocess.run(command, cwd=directory, capture_output=True, text=True, timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20000:] + "\n--- server log, no access log ---\n" + server_errors(server)
    tested = {case.get("name") for case in ElementTree.parse(report).iter("testcase")}
    return output, tested


def server_errors(server):
    return "\n".join(line for line in server.log(tail=None).splitlines() if " INFO wsgi: " not in line)[-5000:]


def documented(server):
    document = requests.get(server.url + "/openapi.json", timeout=10).json()
    operations = {f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item}
    return operations - {"GET /openapi.json"}  # st does not fuzz the document it reads


def test_schemathesis_finds_nothing_against_the_service_as_it_starts_by_default(services, tmp_path):
    server = services["open"]
    try:
        server.wait_until_up()
        tested = fuzz(server, tmp_path)[1]
        assert tested == documented(server)
    finally:
        server.stop()  # its cores to the other run


def test_schemathesis_finds_nothing_with_a_key_configured_and_sent(services, tmp_path):
    server = services["keyed"]
    server.wait_until_up()
    output, tested = fuzz(server, tmp_path, "--header", f"Authorization: Bearer {KEY}")
    assert tested == documented(server)
    assert "Authentication failed" not in output  # st's warning when an operation only ever answered 401/403
