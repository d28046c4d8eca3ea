"""``spark-submit evaluate.py`` measures the model and baselines on held-out ratings.

Either ``--dataset DIR --test-fraction F --seed S`` (a random split of the dataset's
ratings) or ``--train FILE --test FILE`` (two ratings CSVs used as given). Prints a
table, or with ``--json`` one JSON object.

``--model DIR --test FILE`` evaluates a saved version as it is, without retraining: RMSE,
MAE and NDCG@10 of the served order and of most-popular on the test ratings (a CSV,
dataset directory or Parquet), measured on the driver as at training (docs/models.md).
"""

import argparse
import json
import logging
import sys
import time

from pyspark.errors import PySparkException

from recommender.offline.evaluation import METRIC_KEYS, evaluate
from recommender.offline.heldout import measure
from recommender.offline.rating_files import read_rating_arrays
from recommender.offline.splits import add_data_arguments, check_data_arguments, load_split
from recommender.spark_job import configure_logging, spark_job
from recommender.storage import params_file
from recommender.storage.saved_models import load_saved_model

log = logging.getLogger("evaluate")


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Evaluate the recommender and baselines on held-out ratings.")
    add_data_arguments(parser)
    params_file.add_arguments(parser, seed_option="--als-seed")
    parser.add_argument("--json", action="store_true", help="print only one JSON object")
    parser.add_argument("--verbose", action="store_true", help="show Spark's own INFO logs")
    parser.add_argument("--model", help="evaluate this saved version (folder, or models directory: newest) on --test")
    args = parser.parse_args(argv)
    if args.model is not None:
        if args.test is None or args.train is not None or args.dataset is not None:
            parser.error("--model takes --test FILE only (no --train or --dataset): it is not retrained")
        return args
    check_data_arguments(parser, args)
    try:
        args.params = params_file.params_of(args)
    except ValueError as error:
        parser.error(str(error))
    return args


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
        report = evaluate(train, test, movies, args.params)
    finally:
        for frame in (train, test, movies):
            frame.unpersist()
    report["data"] = description
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def run_saved(spark, args):
    """The report of a saved version on ``--test``: its metrics, version, params, data, seconds."""
    started = time.perf_counter()
    model = load_saved_model(args.model)
    test = read_rating_arrays(spark, args.test)
    return {
        "modelVersion": model.version, "model": measure(model, test), "params": model.params,
        "data": {"model": args.model, "test": args.test, "test_ratings": len(test)},
        "seconds": round(time.perf_counter() - started, 1),
    }


def format_saved(report):
    metrics = report["model"]
    return "\n".join([
        f"model {report['modelVersion']} on {report['data']['test']} ({report['data']['test_ratings']} ratings)",
        *(f"{name}  {format_metric(value) if isinstance(value, float) else value}" for name, value in metrics.items()),
        f"{report['seconds']:.1f} s",
    ])


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # spark-submit merges the driver's stderr into its stdout: with --json, log only errors
    # so that stdout is the one JSON object.
    configure_logging(args.verbose, logging.ERROR if args.json else logging.INFO)
    with spark_job("recommender-evaluation", verbose=args.verbose) as spark:
        if args.model is None:
            report = run(spark, args)
        else:
            try:
                report = run_saved(spark, args)
            except (OSError, ValueError, KeyError, PySparkException) as error:
                print(f"error: {error}", file=sys.stderr)
                return 2
    if args.json:
        print(json.dumps(report))
    else:
        print(format_table(report) if args.model is None else format_saved(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
