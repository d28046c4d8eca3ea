"""Fixtures of the HTTP server tests."""

import threading

import pytest

from recommender.http import cheroot_server
from tests.support.service_process import free_port


@pytest.fixture
def serve():
    """Start a bounded server on a free port with the given settings; stops it afterwards.

    It runs on its own thread rather than under the CherryPy engine, whose start-up probe
    would be one more connection in a queue these tests fill on purpose.
    """
    servers = []

    def start(app, **settings):
        port = free_port()
        server = cheroot_server.bounded_server(app, "127.0.0.1", port, **settings)
        server.prepare()
        threading.Thread(target=server.serve, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
