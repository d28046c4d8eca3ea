"""Entry point: ``spark-submit server.py [options]`` loads or trains a model and serves the API."""

import argparse
import logging
import logging.handlers
import os
import queue
import re
import signal
import sys
import tempfile
import threading

import cherrypy
from cherrypy.process.plugins import Monitor
from paste.translogger import TransLogger

import http_server
import model_params
from app import create_app
from service import Service
from spark_session import build_spark

log = logging.getLogger("server")

BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750's b64token
ACCESS_LOGGER = "access"
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATASET = os.path.join(HERE, "data", "ml-latest-small")
DEFAULT_STATE_DIR = os.path.join(HERE, "state")


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Movie recommendation service (Spark ALS + Flask + CherryPy).")
    parser.add_argument("--dataset", default=DEFAULT_DATASET, help="MovieLens-format directory, any path Spark reads")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 to expose it)")
    parser.add_argument("--port", type=int, default=5432)
    parser.add_argument(
        "--checkpoint-dir",
        help="Spark checkpoint directory; on a multi-machine cluster a shared path such as hdfs://... "
        "(default: a temporary local directory)",
    )
    # Measured at concurrency 32 on 2 cores: 4 threads serve top-10 at 635/s with p99 61 ms,
    # 16 threads at 472/s with p99 223 ms (GIL contention).
    parser.add_argument("--threads", type=int, default=4, help="HTTP worker threads")
    parser.add_argument(
        "--queue-size", type=int, default=128, help="requests waiting for a thread; more are answered 503 at once"
    )
    parser.add_argument(
        "--socket-timeout", type=float, default=10.0, help="seconds a connection may stay silent before it is closed"
    )
    parser.add_argument(
        "--keep-alive-limit", type=int, default=256, help="idle keep-alive connections kept open (0: no limit)"
    )
    parser.add_argument(
        "--state-dir", default=DEFAULT_STATE_DIR, help="local directory of the ratings log and saved models"
    )
    parser.add_argument("--retrain", action="store_true", help="train at start-up even if a saved model matches")
    parser.add_argument("--retrain-after-ratings", type=int, default=1000, help="retrain after this many new ratings")
    parser.add_argument(
        "--retrain-after-seconds", type=float, default=300.0, help="retrain this long after the first new rating"
    )
    parser.add_argument("--keep-models", type=int, default=3, help="saved model versions to keep")
    parser.add_argument(
        "--model-dir",
        help="serve the newest model saved in DIR as it is (SageMaker's /opt/ml/model): no dataset, no "
        "retraining; posted ratings are still logged in --state-dir and folded in",
    )
    parser.add_argument(
        "--api-keys-file",
        help="file of API keys, one per line, that writes need as 'Authorization: Bearer <key>' "
        "(or set RECOMMENDER_API_KEYS, comma-separated); without keys writes are open and /admin is disabled",
    )
    parser.add_argument("--protect-reads", action="store_true", help="reads need an API key too")
    parser.add_argument(
        "--max-body-bytes", type=int, default=1024 * 1024, help="largest POST body; larger gets 413"
    )
    parser.add_argument("--max-lines", type=int, default=1000, help="most ratings in one POST; more gets 400")
    parser.add_argument("--access-log", help="file of the access log (default: the service's log on stderr)")
    model_params.add_arguments(parser)
    return parser.parse_args(argv)


def exit_when_parent_dies():
    """Stop serving when spark-submit's JVM, our parent, is gone.

    A SIGTERM to spark-submit ends the JVM but does not reach its Python child, which
    would go on serving with a dead SparkContext.
    """
    parent = os.getppid()

    def check_parent():
        if os.getppid() != parent:
            log.warning("spark-submit (pid %d) has exited; shutting down", parent)
            cherrypy.engine.exit()

    Monitor(cherrypy.engine, check_parent, frequency=1, name="parent-watch").subscribe()


def start_http(app, args, launched_by_spark_submit=False):
    """Serve the WSGI app from the CherryPy engine's threads; SIGTERM or Ctrl-C stops it."""
    cherrypy.config.update({
        "environment": "production",  # no autoreload, no tracebacks
        "engine.autoreload.on": False,
        "log.screen": False,
    })
    cherrypy.log.error_log.propagate = True
    cherrypy.server.unsubscribe()  # http_server's bounded server instead of CherryPy's default one
    server = http_server.bounded_server(
        app, args.host, args.port, threads=args.threads, queue_size=args.queue_size,
        socket_timeout=args.socket_timeout, keep_alive_limit=args.keep_alive_limit or None,
    )
    http_server.mount(cherrypy.engine, server)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: cherrypy.engine.exit())
    if launched_by_spark_submit:
        exit_when_parent_dies()
    cherrypy.engine.start()
    log.info("listening on http://%s:%d", args.host, args.port)


def api_keys(args):
    """The API keys from ``--api-keys-file`` or ``RECOMMENDER_API_KEYS``; empty when neither is set."""
    if args.api_keys_file:
        with open(args.api_keys_file, encoding="utf-8") as keys_file:
            keys = [line.strip() for line in keys_file if line.strip() and not line.startswith("#")]
        if not keys:
            raise SystemExit(f"error: {args.api_keys_file} holds no API keys")
    else:
        keys = [key.strip() for key in os.environ.get("RECOMMENDER_API_KEYS", "").split(",") if key.strip()]
    for key in keys:
        if not BEARER_TOKEN.fullmatch(key):  # never echo the key itself
            raise SystemExit("error: an API key has characters a bearer token cannot carry (RFC 6750)")
    return tuple(keys)


def app_config(args):
    return {
        "API_KEYS": api_keys(args),
        "PROTECT_READS": args.protect_reads,
        "MAX_CONTENT_LENGTH": args.max_body_bytes,
        "MAX_LINES": args.max_lines,
    }


def serve(spark, args, config, launched_by_spark_submit):
    """Listen at once (``/health`` and ``/ready`` answer), then load or train the model."""
    service = Service(spark, args, on_failure=cherrypy.engine.exit)
    app = create_app(service.engine, config, service.retrainer)
    if not app.config["API_KEYS"]:
        log.warning("no API keys configured: anyone who can reach the service can post ratings")
    try:
        access_logged = TransLogger(app, logger_name=ACCESS_LOGGER, setup_console_handler=False)
        start_http(access_logged, args, launched_by_spark_submit)
        threading.Thread(target=service.load_or_train, name="model-loader", daemon=True).start()
        cherrypy.engine.block()
    finally:
        service.close()
    return 1 if service.failed else 0


def stop_spark(spark):
    log.info("stopping Spark")
    try:
        spark.stop()
    except Exception as error:  # the JVM may already be gone, which is what stopping wants
        log.warning("Spark did not stop cleanly: %s", error)


def log_in_background(access_log=None):
    """Log through a queue, so request threads never wait on writing the access log.

    The access log (TransLogger's logger) goes to the file ``access_log`` if given, else
    to stderr with the rest. Returns the QueueListener that writes; stop it to flush.
    """
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handlers = [handler]
    if access_log:
        # Watched: logrotate may move the file away; the next line then goes to a new one.
        access_handler = logging.handlers.WatchedFileHandler(access_log, encoding="utf-8")
        access_handler.addFilter(logging.Filter(ACCESS_LOGGER))
        handler.addFilter(lambda record: not record.name.startswith(ACCESS_LOGGER))
        handlers.append(access_handler)
    records = queue.SimpleQueue()
    to_queue = logging.handlers.QueueHandler(records)
    to_queue.setFormatter(logging.Formatter("%(message)s"))  # the listener's handlers add any prefix
    logging.basicConfig(level=logging.INFO, handlers=[to_queue])
    listener = logging.handlers.QueueListener(records, *handlers)
    listener.start()
    return listener


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    config = app_config(args)  # bad keys stop here, before Spark starts
    log_writer = log_in_background(args.access_log)
    # spark-submit starts the JVM and then this process, telling it the gateway's port.
    launched_by_spark_submit = "PYSPARK_GATEWAY_PORT" in os.environ
    with tempfile.TemporaryDirectory(prefix="als-checkpoints-") as scratch:
        spark = build_spark(args.checkpoint_dir or scratch)
        try:
            return serve(spark, args, config, launched_by_spark_submit)
        finally:
            stop_spark(spark)
            log_writer.stop()


if __name__ == "__main__":
    sys.exit(main())
