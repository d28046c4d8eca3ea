"""Slow and idle clients never hold cheroot's worker threads.

cheroot hands a connection to a worker as soon as it is readable, and the worker then
blocks reading the request line and headers, for up to the socket timeout per read: a few
clients sending one header line every few seconds hold every worker. Here the selector
thread reads the request line and headers itself, without blocking, and queues the
connection for a worker only once they are complete; a client that has not sent them
within ``header_timeout`` seconds (in total) is answered 408 and closed. On the worker,
body reads must keep up a floor rate (``min_body_rate`` bytes a second after a grace of
``header_timeout``), or the request is cut off with 408 the same way. Connections per
client address are capped; one more is answered 503 at once.
"""

import _pyio
import json
import logging
import selectors
import socket
import threading
import time
from collections import Counter
from http import HTTPStatus

from cheroot import connections, server
from cheroot.makefile import StreamReader

log = logging.getLogger(__name__)

HEADERS_END = b"\r\n\r\n"
MAX_HEADER_BYTES = 64 * 1024  # request line and headers; more is answered 431


def json_answer(status, message, retry_after=None):
    """A complete HTTP/1.1 answer with a JSON ``{"error": message}`` body that closes the connection."""
    body = json.dumps({"error": message}).encode()
    phrase = HTTPStatus(status).phrase
    head = f"HTTP/1.1 {status} {phrase}\r\nContent-Type: application/json\r\nConnection: close\r\n"
    if retry_after is not None:
        head += f"Retry-After: {retry_after}\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode("ascii") + body


class PrefixedSocketIO(socket.SocketIO):
    """The socket's bytes, starting with those the selector thread already read (``prefix``).

    Reads from the socket itself keep a floor rate: each waits at most until
    ``started + grace + bytes_from_socket / min_rate``, after which it times out as a
    silent socket would, and cheroot answers 408.
    """

    def __init__(self, sock, grace, min_rate, idle_timeout):
        super().__init__(sock, "rb")
        self.prefix = bytearray()
        self.grace, self.min_rate, self.idle_timeout = grace, min_rate, idle_timeout
        self.started = time.monotonic()
        self.from_socket = 0
        self.timed_out = False

    def readinto(self, buffer):
        if self.prefix:
            count = min(len(buffer), len(self.prefix))
            buffer[:count] = self.prefix[:count]
            del self.prefix[:count]
            return count
        if self.min_rate:
            remaining = self.started + self.grace + self.from_socket / self.min_rate - time.monotonic()
            if remaining <= 0:
                self.timed_out = True
                raise socket.timeout("timed out")
            self._sock.settimeout(min(remaining, self.idle_timeout))
        try:
            count = super().readinto(buffer)
        except socket.timeout:
            self.timed_out = True
            raise
        self.from_socket += count or 0
        return count


class PrefixedReader(StreamReader):
    """cheroot's socket reader over a PrefixedSocketIO."""

    def __init__(self, raw, bufsize):  # pylint: disable=super-init-not-called
        _pyio.BufferedReader.__init__(self, raw, bufsize)  # StreamReader's would make its own SocketIO
        self.bytes_read = 0


class JsonErrorRequest(server.HTTPRequest):
    """cheroot's request, whose own error answers (408, 400, 413, ...) are JSON and close the connection."""

    def send_headers(self):
        if self.conn.raw.timed_out:  # the rest of a too slow body is not waited for
            self.close_connection = True
        super().send_headers()

    def simple_response(self, status, msg=""):
        code = int(str(status)[:3])
        self.close_connection = True
        try:
            self.conn.wfile.write(json_answer(code, msg or HTTPStatus(code).phrase.lower()))
        except OSError:  # the client has gone
            pass


class GuardedConnection(server.HTTPConnection):
    """A connection whose request headers the selector thread gathers (``pending``)."""

    RequestHandlerClass = JsonErrorRequest

    def __init__(self, srv, sock, makefile=None):
        super().__init__(srv, sock)
        self.raw = PrefixedSocketIO(sock, srv.header_timeout, srv.min_body_rate, srv.timeout)
        self.rfile = PrefixedReader(self.raw, self.rbufsize)
        self.pending = bytearray()
        self.header_deadline = None  # set at accept, or at the first byte of a keep-alive request
        self.counted_address = None  # the client address counted against the cap, until closed
        self.last_used = time.time()
        self._close_lock = threading.Lock()

    def close(self):
        with self._close_lock:
            if self.counted_address is not None:
                self.server.forget_address(self.counted_address)
                self.counted_address = None
        super().close()

    def take_buffered(self):
        """Move what the worker's reader holds unread (a pipelined request) into ``pending``."""
        while self.rfile.has_data():
            self.pending += self.rfile.read1(MAX_HEADER_BYTES)
        self.pending += self.raw.prefix
        self.raw.prefix.clear()

    def receive(self):
        """Read what the socket has without blocking; False once the client has closed it."""
        self.socket.setblocking(False)  # with a timeout set, Python would wait for data despite MSG_DONTWAIT
        while len(self.pending) <= MAX_HEADER_BYTES:
            try:
                data = self.socket.recv(65536)
            except (BlockingIOError, InterruptedError):
                return True
            except OSError:
                return False
            if not data:
                return False
            self.pending += data
            self.last_used = time.time()
        return True

    def headers_complete(self):
        # cheroot skips blank lines before a request line; so must the end-of-headers check. Only
        # the first MAX_HEADER_BYTES count: a body may follow the headers in the same reads.
        return HEADERS_END in self.pending.lstrip(b"\r\n")[:MAX_HEADER_BYTES + len(HEADERS_END)]

    def hand_over(self):
        """Give the gathered bytes to the reader a worker will parse them from."""
        self.raw.prefix += self.pending
        self.pending.clear()
        self.socket.settimeout(self.server.timeout)
        self.raw.started, self.raw.from_socket = time.monotonic(), 0
        self.header_deadline = None

    def refuse(self, answer):
        self.socket.setblocking(False)
        try:
            self.socket.send(answer)
        except OSError:  # a full send buffer or a gone client: nothing more to do for it
            pass
        self.close()


class GuardedConnections(connections.ConnectionManager):
    """cheroot's selector loop, which also gathers request headers and enforces their deadline."""

    def put(self, conn):
        """A worker is done with ``conn`` and keeps it open: wait for its next request off the workers."""
        conn.last_used = time.time()
        conn.take_buffered()
        self.server.gather(conn)

    def watch(self, conn):
        self._selector.register(conn.socket.fileno(), selectors.EVENT_READ, data=conn)

    def _expire(self, threshold):
        now = time.monotonic()
        late = [
            (fd, conn) for fd, conn in self._selector.connections
            if conn is not self.server and conn.header_deadline is not None and conn.header_deadline < now
        ]
        for fd, conn in late:
            self._selector.unregister(fd)
            log.info("client %s: no complete request headers in %gs; answered 408",
                     conn.remote_addr, self.server.header_timeout)
            conn.refuse(self.server.header_timeout_answer)
        super()._expire(threshold)


class SlowClientGuard:
    """Mixin for cheroot's server: headers are gathered off the workers, per-address connections capped.

    The server class sets ``header_timeout`` (seconds), ``min_body_rate`` (bytes a second,
    0 for no floor) and ``max_connections_per_ip`` (None for no cap), and calls
    ``dispatch(conn)`` to queue a connection whose headers are complete for a worker.
    """

    ConnectionClass = GuardedConnection
    header_timeout = 10.0
    min_body_rate = 500
    max_connections_per_ip = 64

    def prepare(self):
        super().prepare()
        self._addresses = Counter()
        self._addresses_lock = threading.Lock()
        self.header_timeout_answer = json_answer(
            408, f"the request line and headers did not arrive within {self.header_timeout:g} seconds"
        )
        plain = self._connections
        self._connections = GuardedConnections(self)
        plain._selector.close()  # cheroot's own manager, replaced before it ever ran

    def process_conn(self, conn):
        """A new connection, or a readable one waiting for its headers (from the selector thread)."""
        if conn.counted_address is None and not self.admit(conn):
            return
        self.gather(conn, receive=True)

    def admit(self, conn):
        address = conn.remote_addr
        with self._addresses_lock:
            if self.max_connections_per_ip and self._addresses[address] >= self.max_connections_per_ip:
                refused = True
            else:
                self._addresses[address] += 1
                refused = False
        if refused:
            log.warning("client %s: over %d connections; answered 503", address, self.max_connections_per_ip)
            conn.refuse(json_answer(
                503, f"too many connections from {address} (at most {self.max_connections_per_ip})", retry_after=1,
            ))
            return False
        conn.counted_address = address
        conn.header_deadline = time.monotonic() + self.header_timeout
        return True

    def forget_address(self, address):
        with self._addresses_lock:
            self._addresses[address] -= 1
            if self._addresses[address] <= 0:
                del self._addresses[address]

    def gather(self, conn, receive=False):
        """Queue ``conn`` for a worker if its headers are complete, else watch it for more bytes."""
        if receive and not conn.receive():
            conn.close()
            return
        if conn.pending and conn.header_deadline is None:  # a keep-alive connection's next request began
            conn.header_deadline = time.monotonic() + self.header_timeout
        if conn.headers_complete():
            conn.hand_over()
            self.dispatch(conn)
        elif len(conn.pending) > MAX_HEADER_BYTES:
            conn.refuse(json_answer(431, f"the request headers are over {MAX_HEADER_BYTES} bytes"))
        elif self.ready:
            self._connections.watch(conn)
        else:
            conn.close()
