"""``spark-submit tune.py`` searches the model's parameters on training data only.

With ``--dataset`` the data is split exactly as ``evaluate.py`` splits it (same
``--test-fraction`` and ``--seed``) and only the training part is used; with
``--train FILE`` that file is. Each trial is scored on a validation split (or k
folds) drawn from that training data. Two searches run in turn (``--search`` picks
one): the rating model's parameters on RMSE, then the ranking model's on the NDCG@10
of the top-10 lists the service would serve, with the rating model's best fixed.
Parameters not searched come from ``--output``'s file. Prints the tables of trials and
writes the best parameters to ``--output`` (``model_params.json``, the defaults of
``server.py`` and ``evaluate.py``).
"""

import argparse
import logging
import os
import shlex
import sys
import time

from recommender.model.params import ModelParams
from recommender.offline.splits import add_data_arguments, check_data_arguments, check_data_files, load_split
from recommender.offline.tuning import SEARCHES, add_grid_arguments, candidates, folds, format_trials, score_trial
from recommender.service.startup_checks import check_java_unless_running, fail_cleanly, run_checks
from recommender.spark_job import configure_logging, spark_job
from recommender.storage import params_file

log = logging.getLogger("tune")


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Search the recommender's parameters on training data only.")
    add_data_arguments(parser)
    add_grid_arguments(parser)
    parser.add_argument("--search", choices=SEARCHES, action="append",
                        help="run only this search (rating: RMSE; ranking: served NDCG@10); default both")
    parser.add_argument("--nonnegative", action="store_true", help="non-negative ALS factors in every trial")
    parser.add_argument("--max-trials", type=int, help="try this many grid points, drawn at random (default all)")
    parser.add_argument("--validation-fraction", type=float, default=0.2, help="share of training data to validate on")
    parser.add_argument("--folds", type=int, help="k-fold cross-validation instead of one validation split")
    parser.add_argument("--als-seed", type=int, default=42, help="ALS random seed of every trial")
    parser.add_argument("--output", default=params_file.DEFAULT_PATH, help="where to write the best parameters")
    parser.add_argument("--verbose", action="store_true", help="show Spark's own INFO logs")
    args = parser.parse_args(argv)
    check_data_arguments(parser, args)
    run_checks(parser, lambda: check_data_files(args), check_java_unless_running)
    if args.folds is not None and args.folds < 2:
        parser.error(f"--folds must be at least 2, got {args.folds}")
    if not 0 < args.validation_fraction < 1:
        parser.error(f"--validation-fraction must be between 0 and 1, got {args.validation_fraction}")
    if args.max_trials is not None and args.max_trials < 1:
        parser.error(f"--max-trials must be at least 1, got {args.max_trials}")
    return args


def search_best(search, args, fixed, splits, movies):
    """Run one search's trials; print its table; return the best trial."""
    _, objective, best_of = SEARCHES[search]
    points = candidates(args, search, fixed)
    trials = []
    for number, params in enumerate(points, start=1):
        started = time.perf_counter()
        value = score_trial(params, splits, movies, search)
        trials.append({"params": params, "value": value, "seconds": time.perf_counter() - started})
        log.info("%s trial %d/%d: %s %s=%.4f", search, number, len(points), params, objective, value)
    best = best_of(trials, key=lambda t: t["value"])
    print(format_trials(trials, objective, search))
    print(f"best {objective} {best['value']:.4f}: {best['params']}")
    return {**best, "objective": objective, "trials": len(trials)}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    configure_logging(args.verbose)
    searches = args.search or list(SEARCHES)
    params = params_file.tuned_params(args.output).as_dict() if os.path.exists(args.output) else ModelParams().as_dict()
    started = time.perf_counter()
    validation = f"{args.folds}-fold" if args.folds else f"validation fraction {args.validation_fraction}"
    tuning = {"validation": f"{validation} of the training data only"}
    with fail_cleanly(args.verbose), spark_job("recommender-tuning", verbose=args.verbose) as spark:
        train, _, movies, description = load_split(spark, args)  # the test part is never read
        splits = folds(train, args)
        for search in searches:
            best = search_best(search, args, params, splits, movies)
            params = best["params"]
            tuning[search] = {"objective": best["objective"], "validation_value": round(best["value"], 4),
                              "trials": best["trials"]}
    print(f"-> {args.output}")
    params_file.save(args.output, params, {
        **tuning,
        "data": description,
        "seconds": round(time.perf_counter() - started, 1),
        "command": "spark-submit tune.py " + shlex.join(argv),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
