"""``spark-submit drift.py --model DIR [--reference DATASET] --current FILE [--json]``: retrain or not.

Compares the ratings a saved model was trained on (or ``--reference``) with newer ratings
(a CSV in the dataset's columns, a dataset directory, Parquet, or the service's ratings
log) and says whether to retrain: exit code 0 for no, 3 for yes. Prints a readable
report, or with ``--json`` one JSON object. See docs/models.md.
"""

import argparse
import json
import logging
import sys

from pyspark.errors import PySparkException

from recommender.http.wire import drift_json
from recommender.offline.drift import add_drift_arguments, drift_report, thresholds_of
from recommender.offline.rating_files import read_rating_arrays
from recommender.spark_job import configure_logging, spark_job
from recommender.storage.saved_models import load_saved_model

log = logging.getLogger("drift")

RETRAIN_EXIT_CODE = 3


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Data and model drift of newer ratings against a saved model's.")
    parser.add_argument("--model", required=True, help="a saved version's folder, or a models directory (its newest)")
    parser.add_argument("--reference", help="reference ratings (default: those the model was trained on)")
    parser.add_argument("--current", required=True, help="newer ratings: CSV, dataset directory, Parquet or ratings log")
    parser.add_argument("--json", action="store_true", help="print only one JSON object")
    parser.add_argument("--verbose", action="store_true", help="show Spark's own INFO logs")
    add_drift_arguments(parser)
    args = parser.parse_args(argv)
    try:
        args.thresholds = thresholds_of(args)
    except ValueError as error:
        parser.error(str(error))
    return args


def format_report(report):
    """The report as readable lines."""
    body = drift_json(report)
    model = body["model"]

    def number(value):
        return "-" if value is None else f"{value:.4f}"

    return "\n".join([
        f"model {body['modelVersion']}: reference {body['reference']['ratings']} ratings "
        f"(mean {number(body['reference']['mean'])}), current {body['current']['ratings']} "
        f"(mean {number(body['current']['mean'])})",
        f"KL divergence {body['klDivergence']:.4f}, mean shift {body['meanShift']:.4f}, "
        f"median shift {body['medianShift']:.4f}: score {body['score']:.3f}",
        f"new users {body['newUsersShare']:.1%}, new movies {body['newMoviesShare']:.1%}",
        f"model on current: RMSE {number(model['rmse'])} MAE {number(model['mae'])} over {model['rated_pairs']} "
        f"pairs; held-out RMSE {number(model['heldout_rmse'])} MAE {number(model['heldout_mae'])}",
        "histogram " + " ".join(f"{b:g}:{r}/{c}" for b, r, c in zip(
            body["bins"], body["reference"]["histogram"], body["current"]["histogram"])) + " (reference/current)",
        ("RETRAIN: " + "; ".join(body["reasons"])) if body["retrain"] else "no retrain",
    ])


def run(spark, args):
    """The DriftReport of parsed options."""
    model = load_saved_model(args.model)
    current = read_rating_arrays(spark, args.current)
    reference = read_rating_arrays(spark, args.reference) if args.reference else None
    return drift_report(model, current, reference, args.thresholds)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    configure_logging(args.verbose, logging.ERROR if args.json else logging.INFO)
    try:
        with spark_job("recommender-drift", verbose=args.verbose) as spark:
            report = run(spark, args)
    except (OSError, ValueError, KeyError, PySparkException) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(drift_json(report)) if args.json else format_report(report))
    return RETRAIN_EXIT_CODE if report.retrain else 0


if __name__ == "__main__":
    sys.exit(main())
