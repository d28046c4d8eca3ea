"""Data and model drift between the ratings a model was trained on and newer ratings, in NumPy.

Data drift: the smoothed KL divergence of the newer ratings' histogram from the
reference's, the absolute shifts of the mean and the median, and the shares of new users
and new movies. Model drift: the model's RMSE and MAE on the newer ratings against its
held-out figures. The decision is a weighted score, ``sum(weight * value / threshold)``
over KL, mean shift and median shift (1.0 means "as far as the thresholds, on average"),
or a model whose RMSE on the newer ratings is off its held-out RMSE by more than
``max_rmse_increase``.
"""

from dataclasses import dataclass, field

import numpy as np

from recommender.offline.heldout import rating_metrics

BIN_WIDTH = 0.5  # MovieLens's half stars


@dataclass(frozen=True)
class DriftThresholds:
    """When drift says retrain; defaults from the Netflix-scale pipeline this project grew from."""

    kl: float = 0.1
    kl_weight: float = 0.5
    mean_shift: float = 0.2
    mean_shift_weight: float = 0.3
    median_shift: float = 0.5
    median_shift_weight: float = 0.2
    score: float = 1.0  # retrain at or above this weighted score
    max_rmse_increase: float = 0.1  # or when the RMSE on newer ratings is this much above the held-out one
    min_ratings: int = 100  # fewer newer ratings than this never say retrain: too few to tell
    smoothing: float = 1.0  # pseudo-count added to every histogram bin, so an empty bin is no infinity


@dataclass(frozen=True)
class RatingsSummary:
    ratings: int
    mean: float
    median: float
    histogram: list  # counts per bin


@dataclass(frozen=True)
class DriftReport:
    """One comparison of newer ratings with a model's reference ratings."""

    model_version: str
    bins: list  # bin centres
    reference: RatingsSummary
    current: RatingsSummary
    kl_divergence: float
    mean_shift: float
    median_shift: float
    new_users_share: float
    new_movies_share: float
    model: dict  # rmse, mae, rated_pairs on the newer ratings; heldout_rmse, heldout_mae; rmse_increase
    score: float
    retrain: bool
    reasons: list
    thresholds: DriftThresholds = field(default_factory=DriftThresholds)


def bin_centres(scale, width=BIN_WIDTH):
    low, high = scale
    return np.arange(low, high + width / 2, width)


def histogram(values, centres, width=BIN_WIDTH):
    edges = np.append(centres - width / 2, centres[-1] + width / 2)
    return np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)[0]


def kl_divergence(current_counts, reference_counts, smoothing=1.0):
    """KL(current || reference) of two histograms, each smoothed by ``smoothing`` per bin."""
    p = (current_counts + smoothing) / (current_counts.sum() + smoothing * len(current_counts))
    q = (reference_counts + smoothing) / (reference_counts.sum() + smoothing * len(reference_counts))
    return float(np.sum(p * np.log(p / q)))


def summary(values, centres):
    if len(values) == 0:
        return RatingsSummary(0, None, None, histogram(values, centres).tolist())
    return RatingsSummary(
        int(len(values)), float(np.mean(values)), float(np.median(values)), histogram(values, centres).tolist()
    )


def new_share(current_ids, known_ids):
    distinct = np.unique(current_ids)
    return float(np.mean(~np.isin(distinct, known_ids))) if len(distinct) else 0.0


def reference_of(model):
    """The ratings ``model`` was trained on, from its driver arrays: (users, movies, values)."""
    users = np.repeat(model.user_ids, np.diff(model.rating_offsets))
    return users, model.catalog.movie_ids[model.rated_rows], model.rated_values


def drift_report(model, current, reference=None, thresholds=DriftThresholds()):
    """Compare ``current`` (RatingArrays) with ``reference`` (RatingArrays; default: the model's training ratings).

    Returns
    -------
    DriftReport
    """
    users, movies, values = (
        reference_of(model) if reference is None else (reference.users, reference.movies, reference.ratings)
    )
    centres = bin_centres(model.rating_scale)
    ref, cur = summary(values, centres), summary(current.ratings, centres)
    enough = cur.ratings > 0 and ref.ratings > 0
    kl = kl_divergence(np.array(cur.histogram), np.array(ref.histogram), thresholds.smoothing) if enough else 0.0
    mean_shift = abs(cur.mean - ref.mean) if enough else 0.0
    median_shift = abs(cur.median - ref.median) if enough else 0.0
    score = (
        thresholds.kl_weight * kl / thresholds.kl
        + thresholds.mean_shift_weight * mean_shift / thresholds.mean_shift
        + thresholds.median_shift_weight * median_shift / thresholds.median_shift
    )
    model_drift = model_metrics(model, current)
    reasons = decide(cur.ratings, score, model_drift, thresholds)
    return DriftReport(
        model_version=model.version, bins=centres.tolist(), reference=ref, current=cur,
        kl_divergence=kl, mean_shift=mean_shift, median_shift=median_shift,
        new_users_share=new_share(current.users, users), new_movies_share=new_share(current.movies, movies),
        model=model_drift, score=float(score), retrain=bool(reasons), reasons=reasons, thresholds=thresholds,
    )


def model_metrics(model, current):
    """The model's RMSE and MAE on ``current`` beside its held-out ones."""
    metrics = rating_metrics(model, current)
    heldout = (model.record or {}).get("heldout", {})
    metrics["heldout_rmse"], metrics["heldout_mae"] = heldout.get("rmse"), heldout.get("mae")
    known = metrics["rmse"] is not None and metrics["heldout_rmse"] is not None
    metrics["rmse_increase"] = metrics["rmse"] - metrics["heldout_rmse"] if known else None
    return metrics


def decide(current_ratings, score, model_drift, thresholds):
    """The reasons to retrain (none: do not)."""
    if current_ratings < thresholds.min_ratings:
        return []
    reasons = []
    if score >= thresholds.score:
        reasons.append(f"data drift score {score:.3f} >= {thresholds.score:g}")
    increase = model_drift["rmse_increase"]
    if increase is not None and increase > thresholds.max_rmse_increase:
        reasons.append(
            f"RMSE on the newer ratings {model_drift['rmse']:.4f} is {increase:.4f} above the held-out "
            f"{model_drift['heldout_rmse']:.4f} (> {thresholds.max_rmse_increase:g})"
        )
    return reasons


def add_drift_arguments(parser):
    """The thresholds and weights of the drift decision as options (server.py and drift.py)."""
    defaults = DriftThresholds()
    group = parser.add_argument_group("drift decision: retrain when sum(weight * value / threshold) >= --drift-score")
    for name, help_text in (
        ("kl", "KL divergence threshold"), ("kl_weight", "weight of the KL divergence"),
        ("mean_shift", "mean shift threshold (stars)"), ("mean_shift_weight", "weight of the mean shift"),
        ("median_shift", "median shift threshold (stars)"), ("median_shift_weight", "weight of the median shift"),
        ("score", "weighted score that says retrain"),
        ("max_rmse_increase", "model drift: RMSE on the newer ratings above the held-out RMSE that says retrain"),
        ("min_ratings", "fewer newer ratings than this never say retrain"),
    ):
        kind = type(getattr(defaults, name))
        group.add_argument(
            "--drift-" + name.replace("_", "-"), dest="drift_" + name, type=kind, default=getattr(defaults, name),
            help=f"{help_text} (default {getattr(defaults, name)})",
        )
    return group


def thresholds_of(args):
    """The DriftThresholds of options added by ``add_drift_arguments``; ValueError for a threshold <= 0."""
    values = {name: getattr(args, "drift_" + name) for name in DriftThresholds.__dataclass_fields__ if name != "smoothing"}
    for name in ("kl", "mean_shift", "median_shift"):
        if not values[name] > 0:
            raise ValueError(f"--drift-{name.replace('_', '-')} must be above 0, got {values[name]}")
    return DriftThresholds(**values)
