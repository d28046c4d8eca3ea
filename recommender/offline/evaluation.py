"""Offline evaluation in Spark: rating and ranking metrics of the engine and of baselines.

Rating metrics (RMSE, MAE) cover test pairs whose user and movie both have training
ratings. Ranking metrics (Precision@K, Recall@K, NDCG@K) cover test users with training
ratings and at least one relevant test rating (>= ``RELEVANT_RATING``); each method
ranks the movies with training ratings that the user did not rate in training.
"""

import logging
import time

from pyspark.ml.evaluation import RankingEvaluator
from pyspark.sql import Window
from pyspark.sql import functions as F

from recommender.datasets.movielens import Dataset
from recommender.limits import RELEVANT_RATING
from recommender.model.training import fit_biases, train

log = logging.getLogger(__name__)

K = 10
METRIC_KEYS = ("rmse", "mae", f"precision_at_{K}", f"recall_at_{K}", f"ndcg_at_{K}")


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


def ranking_metrics(recommended, relevant, k=K):
    """Mean Precision@k, Recall@k and NDCG@k over the users of ``relevant``.

    Parameters
    ----------
    recommended : pyspark.sql.DataFrame
        ``userId, movieIds``: each user's recommendations, best first. A user of
        ``relevant`` missing here counts as an empty list.
    relevant : pyspark.sql.DataFrame
        ``userId, movieIds``: each evaluated user's relevant movies (not empty).
    k : int

    Returns
    -------
    dict
        ``precision_at_{k}``, ``recall_at_{k}`` and ``ndcg_at_{k}`` with binary relevance.
    """
    as_doubles = "transform(movieIds, m -> cast(m as double))"
    joined = (
        relevant.select("userId", F.expr(as_doubles).alias("label"))
        .join(recommended.select("userId", F.expr(as_doubles).alias("prediction")), "userId", "left")
        .select("label", F.coalesce("prediction", F.array().cast("array<double>")).alias("prediction"))
        .cache()
    )
    try:
        if joined.count() == 0:
            raise ValueError("no user has a relevant test rating: ranking metrics are undefined")
        return {
            f"{name}_at_{k}": RankingEvaluator(metricName=f"{name}AtK", k=k).evaluate(joined)
            for name in ("precision", "recall", "ndcg")
        }
    finally:
        joined.unpersist()


def top_k(users, items, score, exclude, k=K):
    """Each user's ``k`` best-scored items, skipping the pairs in ``exclude``.

    Parameters
    ----------
    users, items : pyspark.sql.DataFrame
        ``userId, ...`` and ``movieId, ...``; every user is scored against every item.
    score : pyspark.sql.Column
        The score of a (user, item) row of the cross join; higher is better.
    exclude : pyspark.sql.DataFrame
        ``userId, movieId`` pairs not to recommend (the training ratings).

    Returns
    -------
    pyspark.sql.DataFrame
        ``userId, movieIds``: at most ``k`` movie ids per user, best first (ties by id).
    """
    scored = users.crossJoin(F.broadcast(items)).select("userId", "movieId", score.alias("score"))
    candidates = scored.join(exclude.select("userId", "movieId"), ["userId", "movieId"], "left_anti")
    order = Window.partitionBy("userId").orderBy(F.desc("score"), "movieId")
    ranked = candidates.withColumn("rank", F.row_number().over(order)).filter(F.col("rank") <= k)
    return ranked.groupBy("userId").agg(
        F.transform(F.array_sort(F.collect_list(F.struct("rank", "movieId"))), lambda s: s["movieId"]).alias("movieIds")
    )


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
        a dict of ``METRIC_KEYS`` (None where a metric does not apply), ``params`` and
        ``counts``.
    """
    training = train(Dataset(train_ratings, movies), params)
    # Implicit mode has no biases of its own; the biases baseline still needs them.
    biases = training.biases or fit_biases(train_ratings, params.bias_damping)
    report = {
        "model": empty_metrics(),
        "baselines": {name: empty_metrics() for name in ("global_mean", "biases", "most_popular")},
        "params": params.as_dict(),
    }
    try:
        counts = measure_ratings(report, training, biases, test)
        counts["ranking_users"] = measure_rankings(report, training, train_ratings, test)
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


def measure_rankings(report, training, train, test, baselines=True):
    """Fill ``report``'s ranking metrics of the model (and most-popular); return the user count."""
    users, items, score = model_frames(training.model, training.biases)
    relevant = (
        test.filter(F.col("rating") >= RELEVANT_RATING)
        .join(users.select("userId"), "userId", "left_semi")
        .groupBy("userId")
        .agg(F.collect_list("movieId").alias("movieIds"))
        .cache()
    )
    try:
        evaluated = relevant.count()
        if evaluated == 0:
            log.warning("no test user with training ratings has a relevant test rating: no ranking metrics")
            return 0
        ranked_users = users.join(relevant.select("userId"), "userId", "left_semi")
        started = time.perf_counter()
        report["model"].update(ranking_metrics(top_k(ranked_users, items, score, train), relevant))
        log.info("ranking metrics of the model over %d users in %.1fs", evaluated, time.perf_counter() - started)
        if not baselines:
            return evaluated
        popularity = train.groupBy("movieId").agg(F.count(F.lit(1)).alias("popularity"))
        popular = top_k(ranked_users.select("userId"), popularity, F.col("popularity"), train)
        report["baselines"]["most_popular"].update(ranking_metrics(popular, relevant))
    finally:
        relevant.unpersist()
    return evaluated
