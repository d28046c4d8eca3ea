"""Entry point: ``spark-submit server.py [options]`` trains the engine and serves the API."""

import argparse
import logging
import os
import signal
import sys
import tempfile

import cherrypy
from cherrypy.process.plugins import Monitor
from paste.translogger import TransLogger
from pyspark.sql import SparkSession

import model_params
from app import create_app
from dataset import load_movielens
from engine import RecommendationEngine

log = logging.getLogger("server")

DEFAULT_DATASET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "ml-latest-small")


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
    parser.add_argument("--threads", type=int, default=16, help="HTTP worker threads")
    model_params.add_arguments(parser)
    return parser.parse_args(argv)


def build_spark(checkpoint_dir):
    # The master comes from spark-submit (--master); without it Spark runs local[*].
    spark = (
        SparkSession.builder.appName("movie-recommender")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")
    # Without checkpoints, ALS lineage grows with every iteration until the JVM's stack
    # overflows (seen here at 20 iterations).
    spark.sparkContext.setCheckpointDir(checkpoint_dir)
    return spark


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


def serve(app, host, port, threads, launched_by_spark_submit=False):
    """Serve the WSGI app with CherryPy until SIGTERM or Ctrl-C."""
    cherrypy.tree.graft(TransLogger(app, setup_console_handler=False), "/")
    cherrypy.config.update({
        "environment": "production",  # no autoreload, no tracebacks
        "engine.autoreload.on": False,
        "log.screen": False,
        "server.socket_host": host,
        "server.socket_port": port,
        "server.thread_pool": threads,
    })
    cherrypy.log.error_log.propagate = True
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: cherrypy.engine.exit())
    if launched_by_spark_submit:
        exit_when_parent_dies()
    cherrypy.engine.start()
    log.info("serving on http://%s:%d", host, port)
    cherrypy.engine.block()


def stop_spark(spark):
    log.info("stopping Spark")
    try:
        spark.stop()
    except Exception as error:  # the JVM may already be gone, which is what stopping wants
        log.warning("Spark did not stop cleanly: %s", error)


def train_engine(spark, args):
    dataset = load_movielens(spark, args.dataset)
    engine = RecommendationEngine(**model_params.engine_kwargs(args))
    return engine.fit(dataset)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # spark-submit starts the JVM and then this process, telling it the gateway's port.
    launched_by_spark_submit = "PYSPARK_GATEWAY_PORT" in os.environ
    with tempfile.TemporaryDirectory(prefix="als-checkpoints-") as scratch:
        spark = build_spark(args.checkpoint_dir or scratch)
        try:
            engine = train_engine(spark, args)
            serve(create_app(engine), args.host, args.port, args.threads, launched_by_spark_submit)
        finally:
            stop_spark(spark)
    return 0


if __name__ == "__main__":
    sys.exit(main())
