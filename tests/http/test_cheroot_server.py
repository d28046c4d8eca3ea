"""http_server's bounds, on a real socket with a trivial WSGI app (no Spark needed)."""

import http.client
import json
import socket
import threading
import time

import pytest

from recommender.http import cheroot_server
from tests.support.waiting import wait_for


class SlowApp:
    """Answers /slow only once released, so the test controls how long a worker is busy."""

    def __init__(self):
        self.release = threading.Event()
        self.started = threading.Semaphore(0)

    def __call__(self, environ, start_response):
        if environ["PATH_INFO"] == "/slow":
            self.started.release()
            self.release.wait(10)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]


def send(server, path, timeout=5):
    connection = http.client.HTTPConnection(*server.bind_addr, timeout=timeout)
    connection.request("GET", path)
    return connection


def test_a_full_queue_is_answered_503_in_json_at_once(serve):
    app = SlowApp()
    server = serve(app, threads=1, queue_size=1)
    busy = send(server, "/slow")
    assert app.started.acquire(timeout=5)  # the only worker is now busy
    queued = send(server, "/slow")
    wait_for(lambda: server.requests.qsize == 1, timeout=5)
    started = time.perf_counter()
    rejected = send(server, "/").getresponse()
    assert time.perf_counter() - started < 1.0
    assert rejected.status == 503 and rejected.getheader("Content-Type") == "application/json"
    assert rejected.getheader("Retry-After") == "1"
    assert "overloaded" in json.loads(rejected.read())["error"]
    app.release.set()
    assert busy.getresponse().status == 200 and queued.getresponse().status == 200


def test_many_keep_alive_connections_stay_open(serve):
    server = serve(SlowApp(), threads=2, keep_alive_limit=64)
    connections = [http.client.HTTPConnection(*server.bind_addr, timeout=5) for _ in range(40)]
    for _ in range(3):
        for connection in connections:
            connection.request("GET", "/")
            response = connection.getresponse()
            assert response.read() == b"ok"
            # cheroot's default limit of 10 would close all but ten of them after each answer
            assert response.getheader("Connection") != "close"


def test_a_silent_connection_is_dropped_after_the_socket_timeout(serve):
    server = serve(SlowApp(), threads=1, socket_timeout=0.5)
    with socket.create_connection(server.bind_addr, timeout=5) as silent:
        silent.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # the request never ends
        started = time.perf_counter()
        while silent.recv(4096):  # a 408 may come first; then the server closes
            pass
        assert time.perf_counter() - started < 3
    # The worker is free again for others.
    assert send(server, "/").getresponse().status == 200
