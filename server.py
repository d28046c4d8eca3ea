"""``spark-submit server.py [options]`` loads or trains a model and serves the API."""

import argparse
import logging
import os
import sys
import threading

import cherrypy
from paste.translogger import TransLogger

from app import create_app
from recommender.http.auth import load_api_keys
from recommender.http.cheroot_server import run_in_cherrypy
from recommender.limits import DEFAULT_MIN_RATINGS, MIN_CANDIDATES
from recommender.offline.drift import add_drift_arguments, thresholds_of
from recommender.offline.heldout import Holdout
from recommender.service.quality_gate import QualityGate
from recommender.service.config import ServiceConfig
from recommender.service.lifecycle import Service
from recommender.service.logs import ACCESS_LOGGER, log_in_background
from recommender.service.startup_checks import (
    check_dataset, check_java_unless_running, check_port_free, check_writable_directory, fail_cleanly, run_checks,
)
from recommender.spark_job import spark_job
from recommender.storage import params_file

log = logging.getLogger("server")

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATASET = os.path.join(HERE, "data", "ml-latest-small")
DEFAULT_STATE_DIR = os.path.join(HERE, "state")


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
    parser.add_argument(
        "--min-ratings", type=int,
        help="ratings a movie needs to be in a top-N list when the request gives no min_ratings (default: fitted "
        f"to the data: {DEFAULT_MIN_RATINGS} where {MIN_CANDIDATES} movies reach it, else a threshold that keeps them)",
    )
    parser.add_argument("--access-log", help="file of the access log (default: the service's log on stderr)")
    parser.add_argument("--verbose", action="store_true", help="show Spark's and py4j's own INFO logs")
    add_catalog_arguments(parser)
    params_file.add_arguments(parser)
    args = parser.parse_args(argv)
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
        lambda: check_port_free(args.host, args.port),
        lambda: check_writable_directory(args.state_dir),
        (lambda: check_dataset(args.dataset)) if not args.model_dir else (lambda: None),
        check_java_unless_running,
    )
    return args


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
        retrain_after_seconds=args.retrain_after_seconds, keep_models=args.keep_models, holdout=args.holdout,
        gate=QualityGate(rmse=args.gate_rmse, ndcg=args.gate_ndcg, enabled=args.gate == "on"),
        retrain_policy=args.retrain_policy, drift_interval=args.drift_interval, drift=args.drift,
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
    try:
        run_in_cherrypy(
            TransLogger(app, logger_name=ACCESS_LOGGER, setup_console_handler=False), args.host, args.port,
            # spark-submit starts the JVM and then this process, telling it the gateway's port.
            stop_with_parent="PYSPARK_GATEWAY_PORT" in os.environ,
            threads=args.threads, queue_size=args.queue_size, socket_timeout=args.socket_timeout,
            keep_alive_limit=args.keep_alive_limit or None, header_timeout=args.header_timeout,
            min_body_rate=args.min_body_rate, max_connections_per_ip=args.max_connections_per_ip or None,
        )
        threading.Thread(target=service.load_or_train, name="model-loader", daemon=True).start()
        cherrypy.engine.block()
    finally:
        service.close()
    return 1 if service.failed else 0


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    log_writer = log_in_background(args.access_log, args.verbose)
    try:
        with fail_cleanly(args.verbose), spark_job("movie-recommender", args.checkpoint_dir, args.verbose) as spark:
            return serve(spark, args)
    finally:
        log_writer.stop()


if __name__ == "__main__":
    sys.exit(main())
