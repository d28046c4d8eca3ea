"""Offline evaluation: rating metrics in Spark, ranking metrics of the served top-N lists.

Rating metrics (RMSE, MAE) cover test pairs whose user and movie both have training
ratings. Ranking metrics (Precision@K, Recall@K, NDCG@K, catalog coverage, mean popularity
rank) are those of ``recommender.offline.served_ranking``: the model's lists are what the
service serves at its defaults, in both orders; most-popular ranks the movies with training
ratings that the user did not rate in training.
"""

import logging
import time

from pyspark.sql import functions as F

from recommender.datasets.movielens import Dataset
from recommender.model.live_model import ORDERS, LiveModel
from recommender.model.training import fit_biases, train
from recommender.offline.served_ranking import K, most_popular_metrics, served_ranking_metrics

log = logging.getLogger(__name__)

RANKING_KEYS = (f"precision_at_{K}", f"recall_at_{K}", f"ndcg_at_{K}", f"coverage_at_{K}", "mean_popularity_rank")
METRIC_KEYS = ("rmse", "mae", *RANKING_KEYS)


def rating_metrics(predictions, label="rating", prediction="prediction"):
    """RMSE and MAE of a DataFrame of predictions.

    Parameters
    ----------
    predictions : pyspark.sql.DataFrame
        One row per pair, with numeric ``label`` and ``prediction`` columns.

    Returns
    -------
    dict
        ``rmse`` and ``mae``, None when there are no rows.
    """
    error = F.col(prediction) - F.col(label)
    row = predictions.agg(F.sqrt(F.avg(error * error)).alias("rmse"), F.avg(F.abs(error)).alias("mae")).first()
    return {"rmse": row["rmse"], "mae": row["mae"]}


def model_frames(model, biases):
    """A trained model's users and movies as Spark frames, with biases and one column per factor.

    Returns
    -------
    (DataFrame, DataFrame, Column)
        Users (``userId, user_bias, u0..``), movies (``movieId, movie_bias, i0..``)
        and the unclipped score of a row of their join.
    """
    # One column per factor: a sum of products is generated code, an array higher-order
    # function is interpreted and several times slower over every (user, movie) pair.
    rank = model.params["rank"]
    users = model.spark_model.userFactors.select(
        F.col("id").alias("userId"), *(F.col("features")[j].alias(f"u{j}") for j in range(rank))
    )
    items = model.spark_model.itemFactors.select(
        F.col("id").alias("movieId"), *(F.col("features")[j].alias(f"i{j}") for j in range(rank))
    )
    dot = sum((F.col(f"u{j}") * F.col(f"i{j}") for j in range(1, rank)), F.col("u0") * F.col("i0"))
    offset, users, items = biased_frames(biases, users, items)
    return users, items, offset + F.col("user_bias") + F.col("movie_bias") + dot


def biased_frames(biases, users, items):
    if biases is None:
        return 0.0, users.withColumn("user_bias", F.lit(0.0)), items.withColumn("movie_bias", F.lit(0.0))
    users = users.join(biases.users, "userId")
    items = items.join(biases.movies, "movieId")
    return biases.global_mean, users, items


def clipped(column, scale):
    low, high = scale
    return F.least(F.greatest(column, F.lit(low)), F.lit(high))


def empty_metrics():
    return dict.fromkeys(METRIC_KEYS)


def evaluate(train_ratings, test, movies, params):
    """Train on ``train_ratings`` and measure the model and the baselines on ``test``.

    Parameters
    ----------
    train_ratings, test : pyspark.sql.DataFrame
        Ratings ``userId, movieId, rating``, one row per pair; cached by the caller
        (both are read several times).
    movies : pyspark.sql.DataFrame
        The catalog, as ``Dataset.movies``.
    params : recommender.model.params.ModelParams

    Returns
    -------
    dict
        ``model`` and ``baselines`` (``global_mean``, ``biases``, ``most_popular``), each
        a dict of ``METRIC_KEYS`` (None where a metric does not apply; the model's ranking
        metrics are of the default order), ``orders`` (the served lists' ranking metrics in
        each order), ``params`` and ``counts``.
    """
    training = train(Dataset(train_ratings, movies), params)
    # Implicit mode has no biases of its own; the biases baseline still needs them.
    biases = training.biases or fit_biases(train_ratings, params.bias_damping)
    report = {
        "model": empty_metrics(),
        "baselines": {name: empty_metrics() for name in ("global_mean", "biases", "most_popular")},
        "orders": {order: dict.fromkeys(RANKING_KEYS) for order in ORDERS},
        "params": params.as_dict(),
    }
    try:
        counts = measure_ratings(report, training, biases, test)
        counts["ranking_users"] = measure_rankings(report, training.model, test)
    finally:
        biases.unpersist()
    report["counts"] = {"train": train_ratings.count(), "test": test.count(), **counts}
    return report


def measure_ratings(report, training, biases, test):
    """Fill ``report``'s RMSE and MAE; return the counts of test pairs measured and skipped."""
    scale = training.model.rating_scale
    users, items, score = model_frames(training.model, training.biases)
    pairs = test.join(users, "userId").join(items, "movieId").cache()
    try:
        measured = pairs.count()
        baselines = report["baselines"]
        baselines["global_mean"].update(rating_metrics(pairs.withColumn("prediction", F.lit(biases.global_mean))))
        biased = pairs.drop("user_bias", "movie_bias").join(biases.users, "userId").join(biases.movies, "movieId")
        baseline = biases.global_mean + F.col("user_bias") + F.col("movie_bias")
        baselines["biases"].update(rating_metrics(biased.withColumn("prediction", clipped(baseline, scale))))
        if not training.model.implicit_prefs:  # implicit scores are preferences, not ratings
            report["model"].update(rating_metrics(pairs.withColumn("prediction", clipped(score, scale))))
    finally:
        pairs.unpersist()
    return {"test_rated_pairs": measured, "test_skipped_pairs": test.count() - measured}


def measure_rankings(report, model, test):
    """Fill ``report``'s ranking metrics: the served lists in each order, and most-popular's; return the user count."""
    started = time.perf_counter()
    live = LiveModel()
    live.swap_model(model)
    try:
        for order in ORDERS:
            report["orders"][order] = served_ranking_metrics(live, test, order=order)
    except ValueError:
        log.warning("no test user with training ratings has a relevant test rating: no ranking metrics")
        return 0
    popular = most_popular_metrics(model, test)
    report["baselines"]["most_popular"].update({key: popular[key] for key in RANKING_KEYS})
    report["model"].update({key: report["orders"]["relevance"][key] for key in RANKING_KEYS})
    log.info("served ranking metrics over %d users in %.1fs", popular["users"], time.perf_counter() - started)
    return popular["users"]
