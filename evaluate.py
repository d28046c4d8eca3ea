"""``spark-submit evaluate.py`` measures the model and baselines on held-out ratings.

Either ``--dataset DIR --test-fraction F --seed S`` (a random split of the dataset's
ratings) or ``--train FILE --test FILE`` (two ratings CSVs used as given). The model's
ranking metrics are those of the top-10 lists the service would serve, in both orders.
Prints a table, or with ``--json`` one JSON object.
"""

import argparse
import json
import logging
import sys
import time

from recommender.offline.evaluation import METRIC_KEYS, evaluate
from recommender.offline.splits import add_data_arguments, check_data_arguments, check_data_files, load_split
from recommender.service.startup_checks import check_java_unless_running, fail_cleanly, run_checks
from recommender.spark_job import configure_logging, spark_job
from recommender.storage import params_file

log = logging.getLogger("evaluate")


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Evaluate the recommender and baselines on held-out ratings.")
    add_data_arguments(parser)
    params_file.add_arguments(parser, seed_option="--als-seed")
    parser.add_argument("--json", action="store_true", help="print only one JSON object")
    parser.add_argument("--verbose", action="store_true", help="show Spark's own INFO logs")
    args = parser.parse_args(argv)
    check_data_arguments(parser, args)
    run_checks(parser, lambda: check_data_files(args), check_java_unless_running)
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
    rows = [
        [f"model, order={order}", *(format_metric({**report["model"], **metrics}[key]) for key in METRIC_KEYS)]
        for order, metrics in report["orders"].items()
    ]
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


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # spark-submit merges the driver's stderr into its stdout: with --json, log only errors
    # so that stdout is the one JSON object.
    configure_logging(args.verbose, logging.ERROR if args.json else logging.INFO)
    with fail_cleanly(args.verbose), spark_job("recommender-evaluation", verbose=args.verbose) as spark:
        report = run(spark, args)
    print(json.dumps(report) if args.json else format_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
