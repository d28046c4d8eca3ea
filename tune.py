"""Entry point: ``spark-submit tune.py`` searches the model's parameters on training data only.

With ``--dataset`` the data is split exactly as ``evaluate.py`` splits it (same
``--test-fraction`` and ``--seed``) and only the training part is used; with
``--train FILE`` that file is. Each trial is scored on a validation split (or k
folds) drawn from that training data: RMSE in explicit mode, NDCG@10 in implicit
mode. Prints the table of trials and writes the best parameters to ``--output``
(``model_params.json``, the defaults of ``server.py`` and ``evaluate.py``).
"""

import argparse
import itertools
import logging
import random
import shlex
import sys
import tempfile
import time

import model_params
from dataset import Dataset
from engine import RecommendationEngine
from evaluate import add_data_arguments, check_data_arguments, load_split
from evaluation import K, clipped, measure_rankings, model_frames, rating_metrics
from spark_session import build_spark

log = logging.getLogger("tune")

GRID = {  # option: (engine parameter, type, default values)
    "--ranks": ("rank", int, "10,20"),
    "--reg-params": ("reg_param", float, "0.05,0.1,0.15"),
    "--iterations": ("iterations", int, "10,15"),
    "--bias-dampings": ("bias_damping", float, "5,15"),
    "--alphas": ("alpha", float, "1"),
}


def value_list(kind):
    def parse(text):
        try:
            values = [kind(item) for item in text.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {kind.__name__}s, got {text!r}") from None
        if any(value < 0 for value in values):
            raise argparse.ArgumentTypeError(f"values must not be negative, got {text!r}")
        return values

    return parse


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Search the recommender's parameters on training data only.")
    add_data_arguments(parser)
    grid = parser.add_argument_group("search grid (comma-separated values)")
    for option, (name, kind, default) in GRID.items():
        grid.add_argument(option, dest=name, type=value_list(kind), default=value_list(kind)(default))
    parser.add_argument("--implicit", action="store_true", help="tune implicit mode (objective NDCG@10)")
    parser.add_argument("--max-trials", type=int, help="try this many grid points, drawn at random (default all)")
    parser.add_argument("--validation-fraction", type=float, default=0.2, help="share of training data to validate on")
    parser.add_argument("--folds", type=int, help="k-fold cross-validation instead of one validation split")
    parser.add_argument("--als-seed", type=int, default=42, help="ALS random seed of every trial")
    parser.add_argument("--output", default=model_params.DEFAULT_PATH, help="where to write the best parameters")
    args = parser.parse_args(argv)
    check_data_arguments(parser, args)
    if args.folds is not None and args.folds < 2:
        parser.error(f"--folds must be at least 2, got {args.folds}")
    if not 0 < args.validation_fraction < 1:
        parser.error(f"--validation-fraction must be between 0 and 1, got {args.validation_fraction}")
    if args.max_trials is not None and args.max_trials < 1:
        parser.error(f"--max-trials must be at least 1, got {args.max_trials}")
    return args


def candidates(args):
    """The grid points to try, as engine keyword arguments."""
    names = [name for name, _, _ in GRID.values()]
    points = [dict(zip(names, values)) for values in itertools.product(*(getattr(args, n) for n in names))]
    if not args.implicit:
        points = [p for p in points if p["alpha"] == points[0]["alpha"]]  # alpha is unused
    else:
        points = [p for p in points if p["bias_damping"] == points[0]["bias_damping"]]  # no biases
    if args.max_trials is not None and args.max_trials < len(points):
        points = random.Random(args.als_seed).sample(points, args.max_trials)
    return [{**p, "implicit_prefs": args.implicit, "seed": args.als_seed} for p in points]


def folds(train, args):
    """(fit, validation) pairs drawn from the training data, cached."""
    if args.folds is None:
        weights = [1 - args.validation_fraction, args.validation_fraction]
        fit, validation = train.randomSplit(weights, seed=args.split_seed + 1)
        return [(fit.cache(), validation.cache())]
    parts = [part.cache() for part in train.randomSplit([1.0] * args.folds, seed=args.split_seed + 1)]
    pairs = []
    for index, validation in enumerate(parts):
        rest = [part for other, part in enumerate(parts) if other != index]
        pairs.append((_union(rest), validation))
    return pairs


def _union(parts):
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    return union.cache()


def score_trial(params, splits, movies):
    """The objective of one trial, averaged over the splits: RMSE, or NDCG@10 in implicit mode."""
    values = []
    for fit, validation in splits:
        engine = RecommendationEngine(**params).fit(Dataset(fit, movies))
        if params["implicit_prefs"]:
            report = {"model": {}, "baselines": {"most_popular": {}}}
            measure_rankings(report, engine, fit, validation, baselines=False)
            values.append(report["model"][f"ndcg_at_{K}"])
        else:
            users, items, score = model_frames(engine)
            pairs = validation.join(users, "userId").join(items, "movieId")
            prediction = clipped(score, engine.summary()["ratingScale"])
            values.append(rating_metrics(pairs.withColumn("prediction", prediction))["rmse"])
        if engine.biases is not None:
            engine.biases.unpersist()
    return sum(values) / len(values)


def format_trials(trials, objective):
    names = ["rank", "reg_param", "iterations", "bias_damping", "alpha"]
    header = ["trial", *names, objective, "seconds"]
    rows = [
        [str(i + 1), *(f"{t['params'][n]:g}" for n in names), f"{t['value']:.4f}", f"{t['seconds']:.1f}"]
        for i, t in enumerate(trials)
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in [header, *rows])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    objective = f"ndcg_at_{K}" if args.implicit else "rmse"
    points = candidates(args)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="als-checkpoints-") as scratch:
        spark = build_spark(scratch, app_name="recommender-tuning")
        try:
            train, _, movies, description = load_split(spark, args)  # the test part is never read
            splits = folds(train, args)
            trials = []
            for number, params in enumerate(points, start=1):
                trial_started = time.perf_counter()
                value = score_trial(params, splits, movies)
                trials.append({"params": params, "value": value, "seconds": time.perf_counter() - trial_started})
                log.info("trial %d/%d: %s %s=%.4f", number, len(points), params, objective, value)
        finally:
            spark.stop()
    best = (max if args.implicit else min)(trials, key=lambda t: t["value"])
    print(format_trials(trials, objective))
    print(f"best {objective} {best['value']:.4f}: {best['params']} -> {args.output}")
    validation = f"{args.folds}-fold" if args.folds else f"validation fraction {args.validation_fraction}"
    model_params.save(args.output, best["params"], {
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
