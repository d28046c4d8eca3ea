"""Slow and idle clients never hold the workers: headers are gathered off them, with deadlines and caps."""

import http.client
import json
import socket
import time

import pytest



def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def timed_get(server, path="/", timeout=5):
    started = time.perf_counter()
    connection = http.client.HTTPConnection(*server.bind_addr, timeout=timeout)
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status, time.perf_counter() - started


def read_until_closed(sock):
    answer = b""
    while chunk := sock.recv(4096):
        answer += chunk
    return answer


def status_and_error(answer):
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"Content-Type: application/json" in head
    return int(head.split()[1]), json.loads(body)["error"]


def test_slow_header_senders_do_not_hold_the_workers(serve):
    server = serve(hello, threads=4)
    slow = [socket.create_connection(server.bind_addr) for _ in range(8)]
    for sock in slow:
        sock.sendall(b"GET /health HTTP/1.1\r\n")
    for _ in range(3):
        for sock in slow:
            sock.sendall(b"X-Drip: 1\r\n")  # one more header line, never the end of them
        status, seconds = timed_get(server)
        assert status == 200 and seconds < 1.0
    for sock in slow:
        sock.close()


def test_headers_not_complete_within_the_deadline_get_408_in_json(serve):
    server = serve(hello, threads=1, header_timeout=1.0, socket_timeout=30)
    with socket.create_connection(server.bind_addr, timeout=10) as drip:
        started = time.perf_counter()
        drip.sendall(b"GET / HTTP/1.1\r\n")
        drip.settimeout(0.3)
        answer = b""
        while not answer:  # a header line every 0.3 s: each read is quick, the total is not
            try:
                drip.sendall(b"X-Drip: 1\r\n")
                answer = drip.recv(4096)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        elapsed = time.perf_counter() - started
    assert 0.9 < elapsed < 3.0
    status, error = status_and_error(answer)
    assert status == 408 and "1 seconds" in error


def test_an_idle_new_connection_gets_408_after_the_deadline(serve):
    server = serve(hello, threads=1, header_timeout=0.5)
    with socket.create_connection(server.bind_addr, timeout=5) as idle:
        assert status_and_error(read_until_closed(idle))[0] == 408


def test_connections_beyond_the_cap_per_address_get_503(serve):
    server = serve(hello, threads=2, max_connections_per_ip=3)
    held = [socket.create_connection(server.bind_addr, timeout=5) for _ in range(3)]
    with socket.create_connection(server.bind_addr, timeout=5) as extra:
        status, error = status_and_error(read_until_closed(extra))
    assert status == 503 and "at most 3" in error
    held.pop().close()
    time.sleep(0.2)
    assert timed_get(server)[0] == 200  # a closed connection frees its place
    for sock in held:
        sock.close()


def test_keep_alive_and_pipelined_requests_are_answered(serve):
    server = serve(hello, threads=1)
    with socket.create_connection(server.bind_addr, timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert read_until_closed(sock).count(b"HTTP/1.1 200 OK") == 2


def test_a_trickling_body_is_cut_off_with_408_and_nothing_is_applied(serve, app, tiny_engine, new_user_id):
    server = serve(app, threads=1, header_timeout=0.5, min_body_rate=100)
    body = b"1,4\n" * 100
    with socket.create_connection(server.bind_addr, timeout=10) as sock:
        sock.sendall(
            f"POST /{new_user_id}/ratings HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body) + 1000}\r\n\r\n".encode()
        )
        started = time.perf_counter()
        sock.sendall(body[:10])
        answer = read_until_closed(sock)  # the rest never comes
    assert time.perf_counter() - started < 3.0
    status, error = status_and_error(answer)
    assert status == 408 and "too slowly" in error
    assert tiny_engine.user_ratings(new_user_id) == []
    assert timed_get(server, "/health")[0] == 200
