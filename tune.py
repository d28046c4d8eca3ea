"""``spark-submit tune.py`` searches the model's parameters on training data only.

With ``--dataset`` the data is split exactly as ``evaluate.py`` splits it (same
``--test-fraction`` and ``--seed``) and only the training part is used; with
``--train FILE`` that file is. Each trial is scored on a validation split (or k
folds) drawn from that training data: RMSE in explicit mode, NDCG@10 in implicit
mode. Prints the table of trials and writes the best parameters to ``--output``
(``model_params.json``, the defaults of ``server.py`` and ``evaluate.py``).
"""

import argparse
import logging
import shlex
import sys
import time

from recommender.offline.evaluation import K
from recommender.offline.splits import add_data_arguments, check_data_arguments, load_split
from recommender.offline.tuning import add_grid_arguments, candidates, folds, format_trials, score_trial
from recommender.spark_job import configure_logging, spark_job
from recommender.storage import params_file

log = logging.getLogger("tune")


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Search the recommender's parameters on training data only.")
    add_data_arguments(parser)
    add_grid_arguments(parser)
    parser.add_argument("--implicit", action="store_true", help="tune implicit mode (objective NDCG@10)")
    parser.add_argument("--nonnegative", action="store_true", help="non-negative ALS factors in every trial")
    parser.add_argument("--max-trials", type=int, help="try this many grid points, drawn at random (default all)")
    parser.add_argument("--validation-fraction", type=float, default=0.2, help="share of training data to validate on")
    parser.add_argument("--folds", type=int, help="k-fold cross-validation instead of one validation split")
    parser.add_argument("--als-seed", type=int, default=42, help="ALS random seed of every trial")
    parser.add_argument("--output", default=params_file.DEFAULT_PATH, help="where to write the best parameters")
    parser.add_argument("--verbose", action="store_true", help="show Spark's own INFO logs")
    args = parser.parse_args(argv)
    check_data_arguments(parser, args)
    if args.folds is not None and args.folds < 2:
        parser.error(f"--folds must be at least 2, got {args.folds}")
    if not 0 < args.validation_fraction < 1:
        parser.error(f"--validation-fraction must be between 0 and 1, got {args.validation_fraction}")
    if args.max_trials is not None and args.max_trials < 1:
        parser.error(f"--max-trials must be at least 1, got {args.max_trials}")
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    configure_logging(args.verbose)
    objective = f"ndcg_at_{K}" if args.implicit else "rmse"
    points = candidates(args)
    started = time.perf_counter()
    with spark_job("recommender-tuning", verbose=args.verbose) as spark:
        train, _, movies, description = load_split(spark, args)  # the test part is never read
        splits = folds(train, args)
        trials = []
        for number, params in enumerate(points, start=1):
            trial_started = time.perf_counter()
            value = score_trial(params, splits, movies)
            trials.append({"params": params, "value": value, "seconds": time.perf_counter() - trial_started})
            log.info("trial %d/%d: %s %s=%.4f", number, len(points), params, objective, value)
    best = (max if args.implicit else min)(trials, key=lambda t: t["value"])
    print(format_trials(trials, objective))
    print(f"best {objective} {best['value']:.4f}: {best['params']} -> {args.output}")
    validation = f"{args.folds}-fold" if args.folds else f"validation fraction {args.validation_fraction}"
    params_file.save(args.output, best["params"], {
        "objective": objective,
        "validation_value": round(best["value"], 4),
        "validation": f"{validation} of the training data only",
        "data": description,
        "trials": len(trials),
        "seconds": round(time.perf_counter() - started, 1),
        "command": "spark-submit tune.py " + shlex.join(argv),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
