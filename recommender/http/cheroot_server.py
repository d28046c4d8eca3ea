"""The HTTP server: cheroot's WSGI server, bounded, run by the CherryPy engine."""

import json
import logging
import os
import queue
import signal
import threading

import cherrypy
from cheroot import wsgi
from cherrypy.process.plugins import Monitor
from cherrypy.process.servers import ServerAdapter

from recommender.http.slow_clients import SlowClientGuard

log = logging.getLogger(__name__)

OVERLOADED_BODY = json.dumps({"error": "the server is overloaded; retry shortly"}).encode()
OVERLOADED = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: application/json\r\n"
    b"Retry-After: 1\r\n"
    b"Connection: close\r\n"
    b"Content-Length: " + str(len(OVERLOADED_BODY)).encode() + b"\r\n\r\n" + OVERLOADED_BODY
)


class BoundedServer(SlowClientGuard, wsgi.Server):
    """cheroot's WSGI server that answers 503 at once when its queue of waiting requests is full.

    cheroot's own answer to a full queue is an empty text/plain 503; this one says why in
    JSON like every other error of the service. Slow and idle clients are kept off the
    workers (``recommender.http.slow_clients``).
    """

    def dispatch(self, conn):
        try:
            self.requests.put(conn)
        except queue.Full:
            answer_overloaded(conn)


def answer_overloaded(conn):
    try:
        conn.wfile.write(OVERLOADED)
        conn.wfile.flush()
    except OSError:  # the client has gone; there is no one to tell
        pass
    # As cheroot does for its own 503: leave the socket to be closed when collected, so the
    # client reads the answer instead of a reset for the request it has not had read.
    conn.linger = True
    conn.close()


def bounded_server(app, host, port, threads=4, queue_size=128, socket_timeout=10.0, keep_alive_limit=256,
                   backlog=128, header_timeout=10.0, min_body_rate=500, max_connections_per_ip=64, reuse_port=False):
    """cheroot's WSGI server for ``app`` on ``host:port``, bounded; ``mount`` it to run it.

    Parameters
    ----------
    threads : int
        Worker threads answering requests.
    queue_size : int
        Requests waiting for a worker; one more is answered 503 at once.
    socket_timeout : float
        Seconds a connection may stay silent mid-request, and idle between keep-alive requests.
    keep_alive_limit : int
        Idle keep-alive connections kept open; beyond it answers close their connection.
    backlog : int
        The listen backlog: connections the kernel holds before they are accepted.
    header_timeout : float
        Seconds, in total, a client has to send its request line and headers; then 408.
    min_body_rate : float
        Bytes a second a request body must keep up after ``header_timeout``; slower is cut off with 408.
    max_connections_per_ip : int
        Open connections per client address; one more is answered 503 (None or 0: no cap).
    reuse_port : bool
        SO_REUSEPORT: several processes (``server.py --workers``) listen on one port, the kernel
        spreading the connections over them.

    Returns
    -------
    BoundedServer
    """
    server = BoundedServer(
        (host, port), app, numthreads=threads, timeout=socket_timeout, request_queue_size=backlog,
        accepted_queue_size=queue_size,
        accepted_queue_timeout=0,  # a full queue answers 503 now instead of stalling the accept loop
    )
    # cheroot's default of 10 makes clients beyond ten reconnect after every answer.
    server.keep_alive_conn_limit = keep_alive_limit
    server.header_timeout = header_timeout
    server.min_body_rate = min_body_rate
    server.max_connections_per_ip = max_connections_per_ip
    server.reuse_port = reuse_port
    return server


def mount(bus, server):
    """Run ``server`` while the CherryPy ``bus`` (``cherrypy.engine``) runs."""
    adapter = SharedPortAdapter if server.reuse_port else ServerAdapter
    adapter(bus, server, server.bind_addr).subscribe()


class SharedPortAdapter(ServerAdapter):
    """CherryPy's adapter without its check that the port is free: another worker listens there (SO_REUSEPORT)."""

    def start(self):
        if self.running:
            return
        self.interrupt = None
        threading.Thread(target=self._start_http_thread, name="HTTPServer").start()
        self.wait()
        self.running = True
        self.bus.log(f"Serving on {self.description} (shared port)")

    start.priority = ServerAdapter.start.priority


def run_in_cherrypy(wsgi_app, host, port, stop_with_parent=False, **bounds):
    """Serve ``wsgi_app`` from a bounded server run by the CherryPy engine; SIGTERM or Ctrl-C stops it.

    ``bounds`` are ``bounded_server``'s keyword arguments. With ``stop_with_parent`` the
    engine exits when the parent process (spark-submit's JVM) is gone: a SIGTERM to
    spark-submit ends the JVM but does not reach its Python child, which would go on
    serving with a dead SparkContext. Returns once listening; ``cherrypy.engine.block()`` waits.
    """
    cherrypy.config.update({
        "environment": "production",  # no autoreload, no tracebacks
        "engine.autoreload.on": False,
        "log.screen": False,
    })
    cherrypy.log.error_log.propagate = True
    cherrypy.server.unsubscribe()  # the bounded server instead of CherryPy's default one
    mount(cherrypy.engine, bounded_server(wsgi_app, host, port, **bounds))
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: cherrypy.engine.exit())
    if stop_with_parent:
        exit_when_parent_dies()
    cherrypy.engine.start()
    log.info("listening on http://%s:%d", host, port)


def exit_when_parent_dies():
    parent = os.getppid()

    def check_parent():
        if os.getppid() != parent:
            log.warning("spark-submit (pid %d) has exited; shutting down", parent)
            cherrypy.engine.exit()

    Monitor(cherrypy.engine, check_parent, frequency=1, name="parent-watch").subscribe()
