"""``spark-submit server.py [options]`` loads or trains a model and serves the API."""

import argparse
import logging
import os
import subprocess
import sys
import threading

import cherrypy
from paste.translogger import TransLogger

from app import create_app
from recommender.datasets.checks import StartupError, check_dataset
from recommender.http.auth import load_api_keys
from recommender.http.cheroot_server import run_in_cherrypy
from recommender.datasets.postgres_store import check_reachable, is_postgres_url
from recommender.storage.files import LOCAL_SCHEME, scheme_of
from recommender.limits import DEFAULT_MIN_RATINGS, MIN_CANDIDATES
from recommender.offline.drift import add_drift_arguments, thresholds_of
from recommender.offline.heldout import Holdout
from recommender.service.quality_gate import QualityGate
from recommender.service.config import ServiceConfig
from recommender.service.lifecycle import Service
from recommender.service.logs import ACCESS_LOGGER, log_in_background
from recommender.service.startup_checks import (
    check_java_unless_running, check_port_free, check_writable_directory, fail_cleanly, run_checks,
)
from recommender.spark_job import spark_job
from recommender.storage import params_file

log = logging.getLogger("server")

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATASET = os.path.join(HERE, "data", "ml-latest-small")
DEFAULT_STATE_DIR = os.path.join(HERE, "state")
DEFAULT_THREADS = 16  # measured against 4 and 32 at 32 and 64 connections: docs/performance.md


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Movie recommendation service (Spark ALS + Flask + CherryPy).")
    parser.add_argument("--dataset", default=DEFAULT_DATASET, help="dataset directory: MovieLens CSV or etl.py Parquet, any path Spark reads")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 to expose it)")
    parser.add_argument("--port", type=int, default=5432)
    parser.add_argument(
        "--checkpoint-dir",
        help="Spark checkpoint directory; on a multi-machine cluster a shared path such as hdfs://... "
        "(default: a temporary local directory)",
    )
    # A POST holds its thread while it waits for the group commit's fsync, so with 4 threads at
    # most 4 POSTs shared an fsync; docs/performance.md ("Writes and reads") has the measurements.
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="HTTP worker threads")
    parser.add_argument(
        "--queue-size", type=int, default=128, help="requests waiting for a thread; more are answered 503 at once"
    )
    parser.add_argument(
        "--socket-timeout", type=float, default=10.0, help="seconds a connection may stay silent before it is closed"
    )
    parser.add_argument(
        "--header-timeout", type=float, default=10.0,
        help="seconds in total a client has to send its request line and headers; then 408",
    )
    parser.add_argument(
        "--min-body-rate", type=float, default=500,
        help="bytes a second a request body must keep up after --header-timeout; slower is cut off with 408",
    )
    parser.add_argument(
        "--max-connections-per-ip", type=int, default=64,
        help="open connections per client address; more are answered 503 (0: no cap)",
    )
    parser.add_argument(
        "--keep-alive-limit", type=int, default=256, help="idle keep-alive connections kept open (0: no limit)"
    )
    parser.add_argument(
        "--state-dir", default=DEFAULT_STATE_DIR, help="local directory of the ratings log and saved models"
    )
    parser.add_argument("--retrain", action="store_true", help="train at start-up even if a saved model matches")
    parser.add_argument(
        "--retrain-after-ratings", type=int, default=1000,
        help="retrain after this many new ratings (the floor of --retrain-after-share)",
    )
    parser.add_argument(
        "--retrain-after-share", type=float, default=0.05,
        help="retrain once new ratings are this share of the serving model's ratings, if more than "
        "--retrain-after-ratings (default %(default)s)",
    )
    parser.add_argument(
        "--retrain-after-seconds", type=float, default=300.0, help="retrain this long after the first new rating"
    )
    parser.add_argument(
        "--min-retrain-gap", type=float, default=300.0,
        help="seconds from the end of one retrain to the start of the next (a requested retrain does not wait; "
        "default %(default)s)",
    )
    parser.add_argument(
        "--retrain-niceness", type=int, default=10, choices=range(0, 20), metavar="0..19",
        help="OS niceness of Spark's JVM while a retrain runs, so serving keeps the cores (0: unchanged; "
        "default %(default)s)",
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
    parser.add_argument(
        "--min-ratings", type=int,
        help="ratings a movie needs to be in a top-N list when the request gives no min_ratings (default: fitted "
        f"to the data: {DEFAULT_MIN_RATINGS} where {MIN_CANDIDATES} movies reach it, else a threshold that keeps them)",
    )
    parser.add_argument("--access-log", help="file of the access log (default: the service's log on stderr)")
    parser.add_argument("--verbose", action="store_true", help="show Spark's and py4j's own INFO logs")
    add_replica_arguments(parser)
    add_catalog_arguments(parser)
    params_file.add_arguments(parser)
    args = parser.parse_args(argv)
    if not 0 <= args.retrain_after_share < 1 or args.min_retrain_gap < 0:
        parser.error("--retrain-after-share must be from 0 to below 1 and --min-retrain-gap at least 0")
    if args.min_ratings is not None and args.min_ratings < 0:
        parser.error(f"--min-ratings must be at least 0, got {args.min_ratings}")
    try:
        args.params = params_file.params_of(args)
        args.holdout = Holdout(share=args.holdout_share)
        args.drift = thresholds_of(args)
        args.api_keys = load_api_keys(args.api_keys_file)  # bad keys stop here, before Spark starts
    except (ValueError, OSError) as error:
        parser.error(str(error))
    run_checks(
        parser,
        lambda: check_workers(args),
        lambda: check_ratings_store(args.ratings_store),
        (lambda: check_port_free(args.host, args.port)) if not args.serving_worker else (lambda: None),
        lambda: check_writable_directory(args.state_dir),
        (lambda: check_dataset(args.dataset)) if not (args.model_dir or args.serving_worker) else (lambda: None),
        check_java_unless_running if not args.serving_worker else (lambda: None),
    )
    return args


def add_replica_arguments(parser):
    group = parser.add_argument_group("replicas sharing one ratings store (docs/cluster.md)")
    group.add_argument(
        "--ratings-store", default="file:", metavar="URL",
        help="file: (the fsynced ratings log in --state-dir; file:PATH for another file) or postgresql://... "
        "shared by every replica, which folds in every other's ratings (default %(default)s)",
    )
    group.add_argument(
        "--model-store", metavar="DIR",
        help="directory of the saved models, any path Spark writes (a shared disk, file://, hdfs://, s3a://); "
        "replicas of one store share it and serve its newest version (default: --state-dir/models)",
    )
    group.add_argument(
        "--workers", type=int, default=1,
        help="serving processes on one port (SO_REUSEPORT); the first trains, the others serve the saved "
        "model with NumPy only; needs a postgresql:// --ratings-store (default 1)",
    )
    group.add_argument("--serving-worker", action="store_true", help=argparse.SUPPRESS)  # started by --workers


def check_workers(args):
    if args.workers < 1:
        raise StartupError(f"--workers must be at least 1, got {args.workers}")
    if args.workers > 1 and not is_postgres_url(args.ratings_store):
        raise StartupError(
            "--workers above 1 needs a shared --ratings-store postgresql://...: with the file log each "
            "process would see only its own writes"
        )
    if args.workers > 1 and scheme_of(args.model_store or "") not in ("", LOCAL_SCHEME):
        raise StartupError(
            f"--workers above 1 needs a --model-store on a local or shared disk (a path or file:// URI), not "
            f"{args.model_store}: the serving workers have no Spark, so no Hadoop client to read it"
        )


def check_ratings_store(url):
    if not (url.startswith("file:") or is_postgres_url(url)):
        raise StartupError(f"--ratings-store {url} is neither file: nor postgresql://...")
    if is_postgres_url(url):
        try:
            check_reachable(url)
        except ValueError as error:
            raise StartupError(str(error)) from None


def add_catalog_arguments(parser):
    group = parser.add_argument_group("model catalog, quality gate and drift (docs/models.md)")
    group.add_argument(
        "--holdout-share", type=float, default=Holdout().share,
        help="seeded share of ratings kept out of fitting to measure each version on (default %(default)s)",
    )
    group.add_argument("--gate", choices=("on", "off"), default="on", help="the quality gate on retrains")
    group.add_argument(
        "--gate-rmse", type=float, default=QualityGate().rmse,
        help="reject a retrain whose held-out RMSE is worse by more than this (default %(default)s)",
    )
    group.add_argument(
        "--gate-ndcg", type=float, default=QualityGate().ndcg,
        help="reject a retrain whose held-out NDCG@10 is lower by more than this share (default %(default)s)",
    )
    group.add_argument(
        "--retrain-policy", choices=("count", "drift"), default="count",
        help="count: retrain after --retrain-after-ratings/-seconds; drift: also when drift of the new ratings "
        "says so (the count and time stay as upper bounds)",
    )
    group.add_argument("--drift-interval", type=float, default=60.0, help="seconds between drift checks")
    add_drift_arguments(parser)


def service_config(args):
    return ServiceConfig(
        dataset=args.dataset, state_dir=args.state_dir, params=args.params, model_dir=args.model_dir,
        force_retrain=args.retrain, retrain_after_ratings=args.retrain_after_ratings,
        retrain_after_seconds=args.retrain_after_seconds, retrain_after_share=args.retrain_after_share,
        min_retrain_gap=args.min_retrain_gap, retrain_niceness=args.retrain_niceness,
        keep_models=args.keep_models, holdout=args.holdout,
        gate=QualityGate(rmse=args.gate_rmse, ndcg=args.gate_ndcg, enabled=args.gate == "on"),
        retrain_policy=args.retrain_policy, drift_interval=args.drift_interval, drift=args.drift,
        ratings_store=args.ratings_store, model_store=args.model_store, serve_only=args.serving_worker,
        min_ratings=args.min_ratings,
    )


def app_config(args):
    return {
        "API_KEYS": args.api_keys,
        "PROTECT_READS": args.protect_reads,
        "MAX_CONTENT_LENGTH": args.max_body_bytes,
        "MAX_LINES": args.max_lines,
    }


def serve(spark, args):
    """Listen at once (``/health`` and ``/ready`` answer), then load or train the model."""
    service = Service(spark, service_config(args), on_failure=cherrypy.engine.exit)
    app = create_app(service.engine, app_config(args), service.retrainer, service)
    if not args.api_keys:
        log.warning("no API keys configured: anyone who can reach the service can post ratings")
    workers = []
    try:
        run_in_cherrypy(
            TransLogger(app, logger_name=ACCESS_LOGGER, setup_console_handler=False), args.host, args.port,
            # spark-submit starts the JVM and then this process, telling it the gateway's port;
            # a serving worker's parent is the first worker.
            stop_with_parent="PYSPARK_GATEWAY_PORT" in os.environ or args.serving_worker,
            threads=args.threads, queue_size=args.queue_size, socket_timeout=args.socket_timeout,
            keep_alive_limit=args.keep_alive_limit or None, header_timeout=args.header_timeout,
            min_body_rate=args.min_body_rate, max_connections_per_ip=args.max_connections_per_ip or None,
            reuse_port=args.workers > 1 or args.serving_worker,
        )
        workers += start_serving_workers(args)
        threading.Thread(target=service.load_or_train, name="model-loader", daemon=True).start()
        cherrypy.engine.block()
    finally:
        stop_serving_workers(workers)
        service.close()
    return 1 if service.failed else 0


def start_serving_workers(args):
    """The other ``--workers``: plain Python processes (no Spark) serving on the same port.

    One spark-submit runs one Python driver with one SparkContext, so the extra workers do
    without Spark: they load the saved model's NumPy arrays, fold in the shared store and
    switch to each newer model the first worker (the one with Spark) saves.
    """
    if args.serving_worker or args.workers == 1:
        return []
    command = [sys.executable, os.path.abspath(__file__), *sys.argv[1:], "--serving-worker"]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PYSPARK_GATEWAY")}
    workers = [subprocess.Popen(command, env=environment) for _ in range(args.workers - 1)]
    log.info("%d serving workers started (pids %s)", len(workers), ", ".join(str(w.pid) for w in workers))
    return workers


def stop_serving_workers(workers):
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    log_writer = log_in_background(args.access_log, args.verbose)
    try:
        if args.serving_worker:
            with fail_cleanly(args.verbose):
                return serve(None, args)
        with fail_cleanly(args.verbose), spark_job("movie-recommender", args.checkpoint_dir, args.verbose) as spark:
            return serve(spark, args)
    finally:
        log_writer.stop()


if __name__ == "__main__":
    sys.exit(main())
