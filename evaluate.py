"""Entry point: ``spark-submit evaluate.py`` measures the engine and baselines on held-out ratings.

Either ``--dataset DIR --test-fraction F --seed S`` (a random split of the dataset's
ratings) or ``--train FILE --test FILE`` (two ratings CSVs used as given). Prints a
table, or with ``--json`` one JSON object.
"""

import argparse
import json
import logging
import os
import sys
import tempfile
import time

import model_params
from dataset import load_movielens, load_ratings, read_movies, resolve_path
from evaluation import METRIC_KEYS, evaluate
from spark_session import build_spark

log = logging.getLogger("evaluate")

DEFAULT_DATASET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "ml-latest-small")


def add_data_arguments(parser):
    """Options choosing the evaluation data: a dataset to split, or train and test files."""
    group = parser.add_argument_group("data: --dataset to split, or --train and --test")
    group.add_argument("--dataset", help=f"MovieLens-format directory to split (default {DEFAULT_DATASET})")
    group.add_argument("--test-fraction", type=float, default=0.2, help="held-out share of --dataset's ratings")
    group.add_argument("--seed", dest="split_seed", type=int, default=42, help="seed of --dataset's random split")
    group.add_argument("--train", help="training ratings CSV (userId,movieId,rating,timestamp)")
    group.add_argument("--test", help="test ratings CSV, same format")
    group.add_argument("--movies", help="movies CSV for --train/--test (default: movies.csv beside --train)")


def check_data_arguments(parser, args):
    if (args.train is None) != (args.test is None):
        parser.error("--train and --test go together")
    if args.train is not None and args.dataset is not None:
        parser.error("give either --dataset or --train/--test, not both")
    if not 0 < args.test_fraction < 1:
        parser.error(f"--test-fraction must be between 0 and 1, got {args.test_fraction}")
    if args.train is None and args.dataset is None:
        args.dataset = DEFAULT_DATASET


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Evaluate the recommender and baselines on held-out ratings.")
    add_data_arguments(parser)
    model_params.add_arguments(parser, seed_option="--als-seed")
    parser.add_argument("--json", action="store_true", help="print only one JSON object")
    args = parser.parse_args(argv)
    check_data_arguments(parser, args)
    return args


def load_split(spark, args):
    """Cached, materialized ``(train, test, movies, description)`` as the data options say."""
    if args.train is not None:
        movies_path = args.movies or os.path.join(os.path.dirname(os.path.abspath(args.train)), "movies.csv")
        if "://" not in movies_path and not os.path.exists(movies_path):
            raise SystemExit(f"error: {movies_path} not found; give the catalog with --movies FILE")
        movies = read_movies(spark, resolve_path(movies_path))
        train = load_ratings(spark, resolve_path(args.train), movies).cache()
        test = load_ratings(spark, resolve_path(args.test), movies).cache()
        description = {"train": args.train, "test": args.test, "movies": movies_path}
    else:
        dataset = load_movielens(spark, args.dataset)
        movies = dataset.movies
        # Cached and counted first, and never unpersisted (that would drop the parts' caches
        # too): randomSplit over a recomputed groupBy gives overlapping splits.
        ratings = dataset.ratings.cache()
        ratings.count()
        train, test = ratings.randomSplit([1 - args.test_fraction, args.test_fraction], seed=args.split_seed)
        train, test = train.cache(), test.cache()
        description = {"dataset": args.dataset, "test_fraction": args.test_fraction, "split_seed": args.split_seed}
    if train.count() == 0 or test.count() == 0:
        raise SystemExit("error: the training or the test part has no valid ratings")
    return train, test, movies.cache(), description


def format_metric(value):
    return "-" if value is None else f"{value:.4f}"


def format_table(report):
    """The report as a readable text table."""
    header = ["method", *METRIC_KEYS]
    rows = [["model", *(format_metric(report["model"][key]) for key in METRIC_KEYS)]]
    for name, metrics in report["baselines"].items():
        rows.append([name, *(format_metric(metrics[key]) for key in METRIC_KEYS)])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) for row in [header, *rows]]
    counts = report["counts"]
    return "\n".join([
        *lines,
        "",
        f"data: {json.dumps(report['data'])}",
        f"params: {json.dumps(report['params'])}",
        f"train {counts['train']} ratings, test {counts['test']}: RMSE/MAE on {counts['test_rated_pairs']} pairs "
        f"({counts['test_skipped_pairs']} skipped: user or movie not in training); "
        f"ranking metrics over {counts['ranking_users']} users",
        f"{report['seconds']:.1f} s",
    ])


def run(spark, args):
    """The evaluation report of parsed options: metrics, params, counts, data, seconds."""
    started = time.perf_counter()
    train, test, movies, description = load_split(spark, args)
    try:
        report = evaluate(train, test, movies, model_params.engine_kwargs(args))
    finally:
        for frame in (train, test, movies):
            frame.unpersist()
    report["data"] = description
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # spark-submit merges the driver's stderr into its stdout: with --json, log only errors
    # so that stdout is the one JSON object.
    level = logging.ERROR if args.json else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="als-checkpoints-") as scratch:
        spark = build_spark(scratch, app_name="recommender-evaluation")
        try:
            report = run(spark, args)
        finally:
            spark.stop()
    print(json.dumps(report) if args.json else format_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
