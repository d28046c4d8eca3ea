"""Training in Spark: biases and ALS on a dataset, then the arrays serving needs copied to the driver."""

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
from pyspark.ml.recommendation import ALS
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recommender.model.errors import RecommendationError
from recommender.model.movies import MovieTable, parse_genres
from recommender.model.params import ModelParams
from recommender.model.trained import TrainedModel, model_version

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Biases:
    """The global mean and damped user and movie biases of explicit ratings, in Spark.

    ``users`` has ``userId, user_bias``; ``movies`` has ``movieId, movie_bias``.
    """

    global_mean: float
    users: DataFrame
    movies: DataFrame

    def unpersist(self):
        self.users.unpersist()
        self.movies.unpersist()


@dataclass(frozen=True)
class Training:
    """One training's result: the driver-side model and, for offline jobs, its Spark-side biases."""

    model: TrainedModel
    biases: Biases  # None in implicit mode; unpersist when done


def train(dataset, params=ModelParams(), log_position=0, data_fingerprint=""):
    """Train ALS in Spark on ``dataset`` and copy what serving needs to the driver.

    Nothing that serves is touched: safe to call from a background thread while reads go on.

    Parameters
    ----------
    dataset : recommender.datasets.movielens.Dataset
    params : ModelParams
    log_position : int
        How many ratings of the ratings log ``dataset`` includes.
    data_fingerprint : str
        Identifies the dataset files, so a saved model can be matched to them.

    Returns
    -------
    Training
    """
    was_cached = dataset.ratings.is_cached
    ratings = dataset.ratings.cache()
    try:
        catalog, summary = movie_table(dataset.movies, ratings, params.popularity_damping)
        if summary["ratings"] == 0:
            raise RecommendationError("the dataset has no valid ratings")
        biases = None if params.implicit_prefs else fit_biases(ratings, params.bias_damping)
        als_model = train_als(ratings, summary, biases, params)
        ranking_model = train_ranking_als(ratings, params)
        model = build_model(catalog, summary, als_model, ratings, biases, params)
        model.update(ranking_arrays(ranking_model, catalog, model["user_ids"], params.ranking_rank))
    finally:
        if not was_cached:  # a caller's cache (evaluation splits) stays
            ratings.unpersist()
    return Training(
        TrainedModel(**model, log_position=log_position, data_fingerprint=data_fingerprint), biases
    )


def movie_table(movies, ratings, popularity_damping):
    """The MovieTable of ``movies`` with rating counts and damped means, and a summary of ``ratings``."""
    started = time.perf_counter()
    summary = ratings.agg(
        F.count(F.lit(1)).alias("ratings"),
        F.countDistinct("userId").alias("users"),
        F.min("rating").alias("min"),
        F.max("rating").alias("max"),
        F.avg("rating").alias("mean"),
    ).first().asDict()
    per_movie = ratings.groupBy("movieId").agg(
        F.count(F.lit(1)).alias("n"), F.sum("rating").alias("total"), F.min("timestamp").alias("first"),
    )
    table = movies.join(per_movie, "movieId", "left").orderBy("movieId").toArrow()
    counts = np.nan_to_num(table.column("n").to_numpy(zero_copy_only=False).astype(np.float64)).astype(np.int64)
    totals = np.nan_to_num(table.column("total").to_numpy(zero_copy_only=False).astype(np.float64))
    # what "new" means for discovery: the movie's first rating in the training data
    first = table.column("first").fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    mean = summary["mean"] if summary["mean"] is not None else 0.0
    catalog = MovieTable(
        movie_ids=table.column("movieId").to_numpy(zero_copy_only=False).astype(np.int64),
        titles=table.column("title").to_pylist(),
        genres=[parse_genres(g) for g in table.column("genres").to_pylist()],
        ratings_count=counts,
        damped_mean=(totals + popularity_damping * mean) / (counts + popularity_damping),
        mean_rating=np.divide(totals, counts, out=np.full(len(counts), np.nan), where=counts > 0),
        first_rated=first,
    )
    log.info(
        "%d ratings by %d users on %d catalog movies, scale %s..%s (%.1fs)",
        summary["ratings"], summary["users"], len(catalog.movie_ids),
        summary["min"], summary["max"], time.perf_counter() - started,
    )
    return catalog, summary


def train_als(ratings, summary, biases, params):
    log.info("training ALS on %d ratings: %s", summary["ratings"], params)
    started = time.perf_counter()
    als = estimator(
        ratings, params.seed,
        rank=params.rank,
        maxIter=params.iterations,
        regParam=params.reg_param,
        ratingCol="rating" if biases is None else "residual",
        implicitPrefs=params.implicit_prefs,
        alpha=params.alpha,
        nonnegative=params.nonnegative,
        coldStartStrategy="nan",
    )
    als_model = als.fit(ratings if biases is None else residuals(ratings, biases))
    log.info("ALS trained in %.1fs", time.perf_counter() - started)
    return als_model


def estimator(ratings, seed, **settings):
    """Spark ML's ALS on users and movies of ``ratings`` with ``settings``, one block per core."""
    parallelism = ratings.sparkSession.sparkContext.defaultParallelism
    # One block per core: the default 10 x 10 blocks cost more in shuffles than
    # they gain on small clusters (measured in bench/training_scale.py).
    return ALS(
        seed=seed, userCol="userId", itemCol="movieId", numUserBlocks=parallelism, numItemBlocks=parallelism,
        **settings,
    )


def preference(ratings, shift):
    """The ranking model's preference of each rating: ``max(rating - shift, 0)``."""
    return F.greatest(ratings - shift, F.lit(0.0))


def train_ranking_als(ratings, params):
    """Implicit-feedback ALS on each rating's preference: the model top-N lists are ranked by.

    A rating at or below the shift has preference 0: its user and movie still get factors,
    but the row adds nothing and does not count in ALS-WR's scaled regularization. Users and
    movies with no positive preference at all are left out (ALS-WR would give them no
    regularization, and a singular system whenever the rank exceeds the other side's size):
    such a user's top-N is the popular list.
    """
    started = time.perf_counter()
    als = estimator(
        ratings, params.seed, rank=params.ranking_rank, maxIter=params.ranking_iterations,
        regParam=params.ranking_reg_param, alpha=params.ranking_alpha, implicitPrefs=True, ratingCol="preference",
    )
    rated = ratings.withColumn("preference", preference(F.col("rating"), params.ranking_rating_shift))
    liked = rated.filter(F.col("preference") > 0)
    rated = rated.join(liked.select("userId").distinct(), "userId", "left_semi")
    als_model = als.fit(rated.join(liked.select("movieId").distinct(), "movieId", "left_semi"))
    log.info("ranking ALS trained in %.1fs", time.perf_counter() - started)
    return als_model


def ranking_arrays(als_model, catalog, user_ids, rank):
    """The ranking model's factors on the driver: movies in catalog order, users aligned with ``user_ids``."""
    item_ids, item_vectors = factors_to_numpy(als_model.itemFactors, rank)
    item_factors = np.zeros((len(catalog.movie_ids), rank), np.float32)
    item_factors[catalog.rows(item_ids)] = item_vectors
    factor_user_ids, factor_vectors = factors_to_numpy(als_model.userFactors, rank)
    user_factors = np.full((len(user_ids), rank), np.nan, np.float32)
    user_factors[np.searchsorted(user_ids, factor_user_ids)] = factor_vectors
    return dict(rank_item_factors=item_factors, rank_user_factors=user_factors)


def build_model(catalog, summary, als_model, ratings, biases, params):
    """The TrainedModel fields of one training, as keyword arguments."""
    started = time.perf_counter()
    item_ids, item_vectors = factors_to_numpy(als_model.itemFactors, params.rank)
    item_factors = np.zeros((len(catalog.movie_ids), params.rank), np.float32)
    has_factors = np.zeros(len(catalog.movie_ids), bool)
    item_rows = catalog.rows(item_ids)
    item_factors[item_rows] = item_vectors
    has_factors[item_rows] = True

    table = ratings.select("userId", "movieId", "rating").toArrow()
    users = table.column("userId").to_numpy().astype(np.int64)
    rows = catalog.rows(table.column("movieId").to_numpy())
    values = table.column("rating").to_numpy().astype(np.float32)
    order = np.lexsort((rows, users))
    users, rows, values = users[order], rows[order], values[order]
    user_ids, starts = np.unique(users, return_index=True)
    offsets = np.append(starts, len(users)).astype(np.int64)

    factor_user_ids, factor_vectors = factors_to_numpy(als_model.userFactors, params.rank)
    user_factors = np.full((len(user_ids), params.rank), np.nan, np.float32)
    user_factors[np.searchsorted(user_ids, factor_user_ids)] = factor_vectors
    user_bias = np.zeros(len(user_ids), np.float32)
    item_bias = np.zeros(len(catalog.movie_ids), np.float32)
    if biases is not None:
        bias_ids, bias_values = biases_to_numpy(biases.users, "userId", "user_bias")
        user_bias[np.searchsorted(user_ids, bias_ids)] = bias_values
        bias_ids, bias_values = biases_to_numpy(biases.movies, "movieId", "movie_bias")
        item_bias[catalog.rows(bias_ids)] = bias_values
    trained_at = datetime.now(timezone.utc)
    log.info(
        "factors of %d users and %d movies copied to the driver (%.1fs)",
        len(factor_user_ids), len(item_ids), time.perf_counter() - started,
    )
    return dict(
        version=model_version(trained_at), trained_at=trained_at, params=params.as_dict(), catalog=catalog,
        item_factors=item_factors, has_factors=has_factors, user_ids=user_ids, user_factors=user_factors,
        rating_offsets=offsets, rated_rows=rows, rated_values=values,
        rating_scale=(float(summary["min"]), float(summary["max"])),
        score_offset=0.0 if biases is None else biases.global_mean, user_bias=user_bias, item_bias=item_bias,
        implicit_prefs=params.implicit_prefs, spark_model=als_model,
    )


def factors_to_numpy(factors, rank):
    """Ids and an (n, rank) float32 matrix from an ALS ``userFactors``/``itemFactors`` frame."""
    table = factors.toArrow()
    ids = table.column("id").to_numpy().astype(np.int64)
    flat = table.column("features").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return ids, flat.astype(np.float32).reshape(len(ids), rank)


def fit_biases(ratings, damping):
    """The global mean and damped movie then user biases of ``ratings``, in Spark.

    A movie's bias is its ratings' mean offset from the global mean, shrunk by
    ``damping`` pseudo-ratings of offset 0; a user's bias is the same over what the
    global mean and movie biases leave. The frames are cached; ``Biases.unpersist``
    frees them.
    """
    mean = ratings.agg(F.avg("rating")).first()[0]
    movies = ratings.groupBy("movieId").agg(
        (F.sum(F.col("rating") - mean) / (F.count(F.lit(1)) + damping)).alias("movie_bias")
    ).cache()
    users = ratings.join(movies, "movieId").groupBy("userId").agg(
        (F.sum(F.col("rating") - mean - F.col("movie_bias")) / (F.count(F.lit(1)) + damping)).alias("user_bias")
    ).cache()
    return Biases(float(mean), users, movies)


def residuals(ratings, biases):
    """``ratings`` with ``residual``: the rating minus the global mean and both biases."""
    return (
        ratings.join(biases.movies, "movieId")
        .join(biases.users, "userId")
        .withColumn("residual", F.col("rating") - biases.global_mean - F.col("movie_bias") - F.col("user_bias"))
    )


def biases_to_numpy(frame, id_column, bias_column):
    table = frame.select(id_column, bias_column).toArrow()
    return table.column(id_column).to_numpy().astype(np.int64), table.column(bias_column).to_numpy().astype(np.float32)
