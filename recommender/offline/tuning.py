"""Parameter search on training data only: the grids, the validation folds and each trial's score.

Two searches: the rating model's parameters on RMSE, then the ranking model's on the served
NDCG@10 (``recommender.offline.served_ranking``), the rating model's best fixed.
"""

import argparse
import itertools
import random

from recommender.datasets.movielens import Dataset
from recommender.model.params import ModelParams
from recommender.model.training import train
from recommender.model.live_model import LiveModel
from recommender.offline.evaluation import K, clipped, model_frames, rating_metrics
from recommender.offline.served_ranking import served_ranking_metrics

GRID = {  # option: (ModelParams field, type, default values): the rating model's, scored on RMSE
    "--ranks": ("rank", int, "10,20"),
    "--reg-params": ("reg_param", float, "0.05,0.1,0.15"),
    "--iterations": ("iterations", int, "10,15"),
    "--bias-dampings": ("bias_damping", float, "5,15"),
}
RANKING_GRID = {  # the ranking model's, scored on the served NDCG@10
    "--ranking-ranks": ("ranking_rank", int, "16,32"),
    "--ranking-reg-params": ("ranking_reg_param", float, "0.1,0.2"),
    "--ranking-alphas": ("ranking_alpha", float, "1,2"),
    "--ranking-iterations": ("ranking_iterations", int, "20"),
    "--ranking-rating-shifts": ("ranking_rating_shift", float, "3"),
}
SEARCHES = {"rating": (GRID, "rmse", min), "ranking": (RANKING_GRID, f"ndcg_at_{K}", max)}  # grid, objective, best


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


def add_grid_arguments(parser):
    grid = parser.add_argument_group("search grids (comma-separated values)")
    for option, (name, kind, default) in {**GRID, **RANKING_GRID}.items():
        grid.add_argument(option, dest=name, type=value_list(kind), default=value_list(kind)(default))


def candidates(args, search, fixed):
    """The grid points of ``search`` (``rating`` or ``ranking``) to try, over the ``fixed`` parameters."""
    grid = SEARCHES[search][0]
    names = [name for name, _, _ in grid.values()]
    points = [dict(zip(names, values)) for values in itertools.product(*(getattr(args, n) for n in names))]
    if args.max_trials is not None and args.max_trials < len(points):
        points = random.Random(args.als_seed).sample(points, args.max_trials)
    return [{**fixed, **p, "nonnegative": args.nonnegative, "seed": args.als_seed} for p in points]


def folds(ratings, args):
    """(fit, validation) pairs drawn from the training data, cached."""
    if args.folds is None:
        weights = [1 - args.validation_fraction, args.validation_fraction]
        fit, validation = ratings.randomSplit(weights, seed=args.split_seed + 1)
        return [(fit.cache(), validation.cache())]
    parts = [part.cache() for part in ratings.randomSplit([1.0] * args.folds, seed=args.split_seed + 1)]
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


def score_trial(params, splits, movies, search):
    """The objective of one trial, averaged over the splits: the rating model's RMSE or the served NDCG@10."""
    values = []
    for fit, validation in splits:
        training = train(Dataset(fit, movies), ModelParams(**params))
        if search == "ranking":
            live = LiveModel()
            live.swap_model(training.model)
            values.append(served_ranking_metrics(live, validation)[f"ndcg_at_{K}"])
        else:
            users, items, score = model_frames(training.model, training.biases)
            pairs = validation.join(users, "userId").join(items, "movieId")
            prediction = clipped(score, training.model.rating_scale)
            values.append(rating_metrics(pairs.withColumn("prediction", prediction))["rmse"])
        if training.biases is not None:
            training.biases.unpersist()
    return sum(values) / len(values)


def format_trials(trials, objective, search):
    names = [name for name, _, _ in SEARCHES[search][0].values()]
    header = ["trial", *names, objective, "seconds"]
    rows = [
        [str(i + 1), *(f"{t['params'][n]:g}" for n in names), f"{t['value']:.4f}", f"{t['seconds']:.1f}"]
        for i, t in enumerate(trials)
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in [header, *rows])
