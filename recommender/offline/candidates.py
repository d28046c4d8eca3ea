"""Ranking candidates beside the served model, measured on the served protocol in NumPy.

Each candidate is a scorer: ``score(user_id, user_state) -> scores over the catalog`` (NaN
where it has none, None for no signal: the popular list, as served). Its lists are built as the service builds the served ones (the fitted
``min_ratings``, the user's rated movies excluded, the genre blend for users with few
ratings), so its NDCG@10 compares with the served model's. Candidates: the ranking ALS with
another confidence function, rank or time decay (fitted in Spark), EASE (Steck 2019) on the
movies with enough ratings, and blends of standardized scores. ``bench/ranking_candidates.py``
runs them on a validation split of the training data to choose, then on the test split.
"""

import logging
import time

import numpy as np
from pyspark.sql import functions as F

from recommender.limits import FEW_RATINGS
from recommender.model.fold_in import fold_in_ranking_user
from recommender.model.genre_blend import few_ratings_scores, genre_blended, reference_rows, standardized
from recommender.model.live_model import candidates
from recommender.model.scoring import top_rows
from recommender.model.thresholds import model_min_ratings
from recommender.model.trained import UserState
from recommender.model.training import estimator, factors_to_numpy
from recommender.offline.served_ranking import K, list_metrics

log = logging.getLogger(__name__)

SECONDS_PER_YEAR = 365.25 * 86400


def served_lists(model, scorer, users, k=K):
    """``{user: top-k movie ids}`` of ``scorer`` on the served protocol."""
    threshold = model_min_ratings(model)
    lists = {}
    for user_id in users:
        user = model.user(user_id)
        scores = scorer(user_id, user)
        if scores is None:  # no signal: the popular list, as served
            scores = model.catalog.damped_mean
        elif len(user.rows) <= FEW_RATINGS:
            scores = few_ratings_scores(model, user, scores)
        personalized = scores is not model.catalog.damped_mean
        eligible = candidates(model, user, threshold, personalized)
        if eligible.sum() < k and threshold > 1:  # as served: a default threshold never leaves a short list
            eligible = candidates(model, user, 1, personalized)
        lists[user_id] = model.catalog.movie_ids[top_rows(np.where(eligible, scores, -np.inf), k)].tolist()
    return lists


def measure_scorer(model, scorer, relevant, k=K):
    """List metrics of ``scorer`` over the ``relevant`` users, and its mean scoring time per user (ms)."""
    started = time.perf_counter()
    lists = served_lists(model, scorer, relevant, k)
    per_user = (time.perf_counter() - started) * 1000 / max(len(relevant), 1)
    return {**list_metrics(model, lists, relevant, k), "ms_per_user": per_user}


def served_als_scorer(model):
    """The served ranking model's plain score (the genre blend is applied by ``served_lists``)."""
    return lambda user_id, user: None if user.rank_factors is None else model.rank_item_factors @ user.rank_factors


# --- the ranking ALS with another preference, fitted in Spark ------------------------------------------


def preference_column(kind, shift, eps=0.5, half_life_years=None, newest=None):
    """A Spark column of the ranking preference: ``linear`` ``max(r - shift, 0)`` or ``log`` ``log(1 + v / eps)``,
    times ``0.5 ** (age / half life)`` when ``half_life_years`` is given (age from the ``newest`` timestamp)."""
    value = F.greatest(F.col("rating") - shift, F.lit(0.0))
    if kind == "log":
        value = F.log1p(value / eps)
    if half_life_years is not None:
        age = (F.lit(newest) - F.col("timestamp")) / SECONDS_PER_YEAR
        value = value * F.pow(F.lit(0.5), age / half_life_years)
    return value


def fit_ranking_variant(ratings, model, rank, reg_param, alpha, iterations, seed, **preference):
    """Implicit ALS on ``ratings`` with a ``preference_column``; users and movies with a positive preference only.

    Returns
    -------
    (callable, float)
        A scorer over ``model``'s catalog and the fit's seconds.
    """
    newest = ratings.agg(F.max("timestamp")).first()[0]
    frame = ratings.withColumn("preference", preference_column(newest=newest, **preference))
    liked = frame.filter(F.col("preference") > 0)
    frame = frame.join(liked.select("userId").distinct(), "userId").join(liked.select("movieId").distinct(), "movieId")
    started = time.perf_counter()
    als = estimator(frame, seed, rank=rank, maxIter=iterations, regParam=reg_param, alpha=alpha,
                    implicitPrefs=True, ratingCol="preference")
    fitted = als.fit(frame)
    item_ids, item_vectors = factors_to_numpy(fitted.itemFactors, rank)
    user_ids, user_vectors = factors_to_numpy(fitted.userFactors, rank)
    seconds = time.perf_counter() - started
    items = np.zeros((len(model.catalog.movie_ids), rank), np.float32)
    items[model.catalog.rows(item_ids)] = item_vectors
    users = dict(zip(user_ids.tolist(), user_vectors))
    return FactorScorer(users, items), seconds


class FactorScorer:
    """A ranking ALS's plain score: ``{user id: vector}`` times the movies' factors (catalog rows)."""

    def __init__(self, user_vectors, item_factors):
        self.user_vectors, self.item_factors = user_vectors, item_factors

    def __call__(self, user_id, user):
        vector = self.user_vectors.get(user_id)
        return None if vector is None else self.item_factors @ vector


# --- EASE ----------------------------------------------------------------------------------------------


def ease_inputs(model, min_count, transform):
    """The user x item matrix EASE fits: items with ``min_count`` ratings, values by ``transform``."""
    items = np.flatnonzero(model.catalog.ratings_count >= min_count)
    column = np.full(len(model.catalog.movie_ids), -1, np.int64)
    column[items] = np.arange(len(items))
    users = np.repeat(np.arange(len(model.user_ids)), np.diff(model.rating_offsets))
    keep = column[model.rated_rows] >= 0
    values = transform(model.rated_values[keep].astype(np.float64))
    matrix = np.zeros((len(model.user_ids), len(items)), np.float64)
    matrix[users[keep], column[model.rated_rows[keep]]] = values
    return items, column, matrix


def ease_weights(matrix, lam):
    """EASE's closed form: ``B = I - P diagMat(1 / diag(P))``, ``P = (X'X + lam I)^-1``, zero diagonal."""
    gram = matrix.T @ matrix
    gram[np.diag_indices_from(gram)] += lam
    inverse = np.linalg.inv(gram)
    weights = -inverse / np.diag(inverse)
    weights[np.diag_indices_from(weights)] = 0.0
    return weights.astype(np.float32)


class EaseScorer:
    """EASE's score over the catalog: the user's transformed ratings on its items times ``B``."""

    def __init__(self, model, items, column, weights, transform):
        self.model, self.items, self.column, self.weights, self.transform = model, items, column, weights, transform

    def __call__(self, user_id, user):
        cols = self.column[user.rows]
        keep = cols >= 0
        values = self.transform(user.ratings[keep].astype(np.float64))
        if not values.any():
            return None
        scores = np.full(len(self.model.catalog.movie_ids), np.nan)
        scores[self.items] = values.astype(np.float32) @ self.weights[cols[keep]]
        return scores


def blend_scorer(model, weighted):
    """``sum w * z(score)`` of ``[(w, scorer)]``, z over the served reference movies; None if any is None."""
    reference = reference_rows(model)

    def score(user_id, user):
        total = None
        for weight, scorer in weighted:
            scores = scorer(user_id, user)
            if scores is None:
                return None
            known = np.isfinite(scores) & reference
            z = (scores - scores[known].mean()) / (scores[known].std() + 1e-9)
            total = weight * z if total is None else total + weight * z
        return np.where(np.isfinite(total), total, -np.inf)

    return score


def popularity_penalized(model, scorer, weight):
    """``score - weight * z(log count)``: the blend's score less its popularity."""
    popularity = np.log1p(model.catalog.ratings_count.astype(np.float64))
    z = standardized(popularity, reference_rows(model))

    def score(user_id, user):
        scores = scorer(user_id, user)
        return None if scores is None else scores - weight * z

    return score


# --- the genre blend's weight, on users cut to few ratings ---------------------------------------------


def few_ratings_ndcg(model, relevant, weights, keep=FEW_RATINGS, seed=1, k=K):
    """``{weight: NDCG@k}`` of users cut to ``keep`` random training ratings, folded in, genre-blended.

    Each user's full training ratings stay excluded from their list (they are not held out).
    """
    chance = np.random.default_rng(seed)
    threshold = model_min_ratings(model)
    cut = {}
    for user_id in relevant:
        user = model.user(user_id)
        chosen = np.sort(chance.choice(len(user.rows), min(keep, len(user.rows)), replace=False))
        rows, values = user.rows[chosen], user.ratings[chosen]
        factors = fold_in_ranking_user(model, rows, values)
        cut[user_id] = (user, UserState(rows, values, None, 0.0, factors))
    results = {}
    for weight in weights:
        lists = {}
        for user_id, (full, few) in cut.items():
            personalized = few.rank_factors is not None
            scores = model.catalog.damped_mean if not personalized else genre_blended(
                model, few, model.rank_item_factors @ few.rank_factors, weight)
            eligible = candidates(model, full, threshold, personalized)
            lists[user_id] = model.catalog.movie_ids[top_rows(np.where(eligible, scores, -np.inf), k)].tolist()
        results[weight] = list_metrics(model, lists, relevant, k)[f"ndcg_at_{k}"]
    return results


def fan_genre_count(model, movie_ids, genre, weight, rating=5.0, k=K):
    """How many of ``genre`` a new user who rates ``movie_ids`` at ``rating`` gets in the top-``k`` at ``weight``."""
    rows = model.catalog.rows(np.asarray(movie_ids, np.int64))
    values = np.full(len(rows), rating, np.float32)
    order = np.argsort(rows)
    rows, values = rows[order], values[order]
    fan = UserState(rows, values, None, 0.0, fold_in_ranking_user(model, rows, values))
    scores = genre_blended(model, fan, model.rank_item_factors @ fan.rank_factors, weight)
    eligible = candidates(model, fan, model_min_ratings(model), True)
    top = top_rows(np.where(eligible, scores, -np.inf), k)
    return sum(genre in model.catalog.genres[row] for row in top)
