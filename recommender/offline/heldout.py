"""Held-out metrics measured at training, for the model catalog and the quality gate.

A small seeded share of the ratings (of users with enough of them) is kept out of fitting
entirely: the factors and biases never see it. The trained model is measured on it on
the driver in NumPy (RMSE and MAE of the rating model; NDCG@10 of the order
``LiveModel.recommend`` serves, and of most-popular), then the held-out ratings are put
back into the model's ratings index, so users still see them as theirs and are never
recommended what they rated. The pairs are picked by a hash of (user, movie, seed), so
the same pairs stay held out from one retrain to the next and versions are compared on
(nearly) the same ratings.
"""

import dataclasses
import logging
import time
from dataclasses import dataclass

import numpy as np
from pyspark.sql import functions as F

from recommender.limits import RELEVANT_RATING
from recommender.model.live_model import LiveModel
from recommender.model.preferences import params_for_data
from recommender.model.scoring import top_rows
from recommender.model.training import train

log = logging.getLogger(__name__)

K = 10
HASH_BUCKETS = 1_000_000


@dataclass(frozen=True)
class Holdout:
    """Which ratings a training keeps out of fitting: ``share`` of those of users with ``min_user_ratings``."""

    share: float = 0.02
    seed: int = 14
    min_user_ratings: int = 5  # users with fewer ratings keep all of theirs
    # NDCG is measured on at most this many users (a seeded sample): each costs a served
    # top-10 in Python, and 5,000 users put the mean within about 0.005.
    max_ranking_users: int = 5000

    def __post_init__(self):
        if not 0 <= self.share < 1:
            raise ValueError(f"the held-out share must be from 0 to below 1, got {self.share}")

    def candidates(self):
        """A Spark column: true for the pairs held out if their user has ``min_user_ratings``.

        A hash of (user, movie, seed): the same pairs stay held out from one retrain to the next.
        """
        bucket = F.pmod(F.xxhash64("userId", "movieId", F.lit(self.seed)), F.lit(HASH_BUCKETS))
        return bucket < int(self.share * HASH_BUCKETS)


@dataclass(frozen=True)
class RatingArrays:
    """Ratings on the driver: parallel ``users``, ``movies`` (int64) and ``ratings`` (float32)."""

    users: np.ndarray
    movies: np.ndarray
    ratings: np.ndarray

    @staticmethod
    def of_table(table):
        """The arrays of a pyarrow Table with ``userId, movieId, rating``."""
        return RatingArrays(
            table.column("userId").to_numpy().astype(np.int64),
            table.column("movieId").to_numpy().astype(np.int64),
            table.column("rating").to_numpy().astype(np.float32),
        )

    def __len__(self):
        return len(self.ratings)


def train_measured(dataset, params, holdout=Holdout(), log_position=0, data_fingerprint=""):
    """Train on ``dataset`` less the held-out ratings, measure on them, and record it all.

    Returns
    -------
    recommender.model.trained.TrainedModel
        With every rating of ``dataset`` in its ratings index and ``record`` set:
        ``seconds`` (fitting), ``counts`` and ``heldout`` (metrics, share, seed, seconds).
    """
    started = time.perf_counter()
    params = params_for_data(params, dataset.implicit)
    training = train(dataset, params, log_position, data_fingerprint, holdout=holdout)
    if training.biases is not None:
        training.biases.unpersist()
    held = RatingArrays(*training.heldout)
    seconds = time.perf_counter() - started
    measured_at = time.perf_counter()
    metrics = measure(training.model, held, max_users=holdout.max_ranking_users, seed=holdout.seed)
    model = with_ratings(training.model, held)
    measuring = time.perf_counter() - measured_at
    log.info("held-out metrics on %d ratings in %.2fs: %s", len(held), measuring, metrics)
    record = {
        "seconds": round(seconds, 2),
        "counts": {
            "ratings": int(len(model.rated_rows)),
            "fitted_ratings": int(len(training.model.rated_rows)),
            "heldout_ratings": len(held),
            "users": int(len(model.user_ids)),
            "movies": int(len(model.catalog.movie_ids)),
        },
        "heldout": {**metrics, **dataclasses.asdict(holdout), "seconds": round(measuring, 3)},
    }
    return dataclasses.replace(model, record=record)


def measure(model, ratings, k=K, max_users=None, seed=0):
    """RMSE, MAE, NDCG@k of the served order and of most-popular of ``model`` on ``ratings`` (RatingArrays).

    Rating metrics cover pairs whose user and movie have factors; ranking metrics the
    users with training ratings and a relevant rating (>= ``RELEVANT_RATING``) here, at
    most ``max_users`` of them (a sample by ``seed``).
    """
    metrics = rating_metrics(model, ratings)
    relevant = sampled(relevant_movies(model, ratings), max_users, seed)
    live = LiveModel()
    live.swap_model(model)
    metrics[f"ndcg_at_{k}"] = mean_ndcg(served_ranking(live, k), relevant, k)
    metrics[f"popular_ndcg_at_{k}"] = mean_ndcg(popular_ranking(model, k), relevant, k)
    metrics["ranking_users"] = len(relevant)
    return metrics


def predicted(model, users, movies):
    """The model's clipped predictions of (user, movie) pairs; NaN where either has no factors."""
    if len(model.user_ids) == 0 or len(model.catalog.movie_ids) == 0:
        return np.full(len(users), np.nan)
    index = np.minimum(np.searchsorted(model.user_ids, users), len(model.user_ids) - 1)
    rows = np.minimum(model.catalog.rows(movies), len(model.catalog.movie_ids) - 1)
    factors = model.user_factors[index]
    known = (model.user_ids[index] == users) & (model.catalog.movie_ids[rows] == movies)
    known &= ~np.isnan(factors[:, 0]) & model.has_factors[rows]
    scores = model.score_offset + model.user_bias[index] + model.item_bias[rows]
    scores = scores + np.einsum("ij,ij->i", np.nan_to_num(factors), model.item_factors[rows])
    low, high = model.rating_scale
    return np.where(known, np.clip(scores, low, high), np.nan)


def rating_metrics(model, ratings):
    """``rmse``, ``mae`` and ``rated_pairs`` of ``model`` on RatingArrays (None where nothing applies)."""
    if model.implicit_prefs:  # implicit scores are preferences, not ratings
        return {"rmse": None, "mae": None, "rated_pairs": 0}
    errors = predicted(model, ratings.users, ratings.movies) - ratings.ratings
    errors = errors[~np.isnan(errors)]
    if len(errors) == 0:
        return {"rmse": None, "mae": None, "rated_pairs": 0}
    return {
        "rmse": float(np.sqrt(np.mean(errors ** 2))), "mae": float(np.mean(np.abs(errors))),
        "rated_pairs": int(len(errors)),
    }


def relevant_movies(model, ratings):
    """user id -> set of movie ids rated relevant in ``ratings``, for users with training ratings."""
    if len(model.user_ids) == 0:
        return {}
    index = np.minimum(np.searchsorted(model.user_ids, ratings.users), len(model.user_ids) - 1)
    liked = (ratings.ratings >= RELEVANT_RATING) & (model.user_ids[index] == ratings.users)
    relevant = {}
    for user, movie in zip(ratings.users[liked].tolist(), ratings.movies[liked].tolist()):
        relevant.setdefault(user, set()).add(movie)
    return relevant


def sampled(relevant, max_users, seed):
    """At most ``max_users`` users of ``relevant``, the same ones for the same users and seed."""
    if max_users is None or len(relevant) <= max_users:
        return relevant
    users = np.random.default_rng(seed).choice(np.array(sorted(relevant)), max_users, replace=False)
    return {int(user): relevant[int(user)] for user in users}


def mean_ndcg(ranked, relevant, k=K):
    """Mean binary-relevance NDCG@k (Spark's RankingEvaluator's) over the users of ``relevant``.

    Parameters
    ----------
    ranked : callable
        ``ranked(user_id)`` is the user's movie ids, best first.
    relevant : dict
        user id -> set of relevant movie ids (not empty).
    """
    if not relevant:
        return None
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    total = 0.0
    for user, movies in relevant.items():
        hits = np.array([movie in movies for movie in ranked(user)[:k]], bool)
        total += discounts[:len(hits)][hits].sum() / discounts[:min(len(movies), k)].sum()
    return float(total / len(relevant))


def served_ranking(live, k=K):
    """The order the service serves: ``LiveModel.recommend`` over every movie with factors."""
    return lambda user: [p.movie.movie_id for p in live.recommend(user, k, min_ratings=0).items]


def popular_ranking(model, k=K):
    """Most-popular: the most rated movies the user has not rated."""
    order = top_rows(model.catalog.ratings_count.astype(np.float64), len(model.catalog.movie_ids))

    def ranked(user):
        rated = model.user(user).rows
        candidates = order[:k + len(rated)]
        return model.catalog.movie_ids[candidates[~np.isin(candidates, rated)][:k]].tolist()

    return ranked


def with_ratings(model, ratings):
    """``model`` with ``ratings`` (RatingArrays of its own users) in its ratings index and movie statistics."""
    known = np.isin(ratings.users, model.user_ids) & model.catalog.known(ratings.movies)
    if not known.all():
        log.warning("%d held-out ratings of users without training ratings not put back", int((~known).sum()))
    users = np.concatenate([np.repeat(model.user_ids, np.diff(model.rating_offsets)), ratings.users[known]])
    rows = np.concatenate([model.rated_rows, model.catalog.rows(ratings.movies[known])])
    values = np.concatenate([model.rated_values, ratings.ratings[known]])
    order = np.argsort(users * len(model.catalog.movie_ids) + rows)  # by user then movie: one rating per pair
    users, rows, values = users[order], rows[order], values[order]
    offsets = np.append(np.searchsorted(users, model.user_ids), len(users)).astype(np.int64)
    movies = len(model.catalog.movie_ids)
    counts = np.bincount(rows, minlength=movies).astype(np.int64)
    totals = np.bincount(rows, weights=values.astype(np.float64), minlength=movies)
    damping = model.params["popularity_damping"]
    mean = float(values.mean()) if len(values) else 0.0
    catalog = dataclasses.replace(
        model.catalog, ratings_count=counts, damped_mean=(totals + damping * mean) / (counts + damping)
    )
    return dataclasses.replace(model, catalog=catalog, rating_offsets=offsets, rated_rows=rows, rated_values=values)
