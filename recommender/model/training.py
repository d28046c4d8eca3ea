"""Training in Spark: biases and two ALS models on a dataset, then the arrays serving needs on the driver.

The ratings are read and cached once, and copied to the driver once (Arrow): serving needs
every rating there anyway, so the statistics (summary, per-movie counts and means, biases,
the held-out split) are computed from that copy in NumPy rather than by more Spark jobs.
Spark then fits the rating ALS (on what the biases leave) and the ranking ALS (on
preferences) from the cached ratings joined to small broadcast frames of the per-user and
per-movie values, the two fits running from two threads so that neither leaves a core idle.
"""

import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
from pyspark import InheritableThread, StorageLevel
from pyspark.ml.recommendation import ALS
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recommender.model.errors import RecommendationError
from recommender.model.movies import MovieTable, parse_genres
from recommender.model.params import ModelParams
from recommender.model.trained import TrainedModel, model_version

log = logging.getLogger(__name__)

HELD = "_held_candidate"  # a column a held-out split adds: the pair may be held out
# ALS checkpoints its factors' lineage every this many iterations (without, the lineage
# of 20 iterations overflowed the JVM's stack); each checkpoint writes the factors out.
CHECKPOINT_INTERVAL = 10


@contextlib.contextmanager
def stage(name, *details):
    """Log the start of a long stage and, at its end, the seconds it took."""
    started = time.perf_counter()
    log.info("%s ...", name % details if details else name)
    yield
    log.info("%s done (%.1fs)", name % details if details else name, time.perf_counter() - started)


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
    """One training's result: the driver-side model and, for offline jobs, its Spark-side biases.

    ``heldout`` is the ratings a held-out split kept out of fitting, as ``(users, movies,
    ratings)`` arrays (None without a split).
    """

    model: TrainedModel
    biases: Biases  # None in implicit mode; unpersist when done
    heldout: tuple = None


@dataclass(frozen=True)
class Ratings:
    """Ratings on the driver: parallel arrays of user ids, catalog rows, values and timestamps."""

    users: np.ndarray  # int64
    rows: np.ndarray  # int64 catalog rows
    values: np.ndarray  # float32
    timestamps: np.ndarray  # int64

    def subset(self, mask):
        return Ratings(self.users[mask], self.rows[mask], self.values[mask], self.timestamps[mask])


def train(dataset, params=ModelParams(), log_position=0, data_fingerprint="", holdout=None):
    """Train both ALS models in Spark on ``dataset`` and copy what serving needs to the driver.

    Nothing that serves is touched: safe to call from a background thread while reads go on.

    Parameters
    ----------
    dataset : recommender.datasets.movielens.Dataset
    params : ModelParams
    log_position : int
        How many ratings of the ratings log ``dataset`` includes.
    data_fingerprint : str
        Identifies the dataset files, so a saved model can be matched to them.
    holdout : recommender.offline.heldout.Holdout, optional
        Keep its share of the ratings out of fitting; they are returned in ``heldout``.

    Returns
    -------
    Training
    """
    started = time.perf_counter()
    was_cached = dataset.ratings.is_cached
    ratings = dataset.ratings.select("userId", "movieId", "rating", "timestamp")
    if holdout is not None:
        ratings = ratings.withColumn(HELD, holdout.candidates())
    if not was_cached:  # a caller's cache (evaluation splits) is used as it is
        ratings = ratings.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        catalog = movie_catalog(dataset.movies)
        with stage("reading the ratings and copying them to the driver"):
            table = ratings.toArrow()
        with stage("sorting %d ratings by user and movie", table.num_rows):
            every, candidates = driver_ratings(table, catalog)
            del table
            held, eligible = held_mask(candidates, every, holdout)
            fitted = every.subset(~held)  # still sorted
        if len(fitted.values) == 0:
            raise RecommendationError("the dataset has no valid ratings")
        with stage("statistics of %d ratings", len(fitted.values)):
            index = rating_index(fitted)
            catalog, summary = with_statistics(catalog, fitted, params.popularity_damping, len(index.user_ids))
            stats = per_user_and_movie(fitted, index, catalog, summary, params, eligible)
        biases = None if params.implicit_prefs else spark_biases(ratings.sparkSession, stats)
        frames = fitting_frames(ratings, stats, holdout is not None, params)
        als_model, ranking_model = fit_both(frames, summary, params)
        with stage("copying the factors to the driver"):
            model = build_model(catalog, summary, index, als_model, stats, params)
            model.update(ranking_arrays(ranking_model, catalog, model["user_ids"], params.ranking_rank))
        for frame in stats.frames:
            frame.unpersist()
    finally:
        if not was_cached:
            ratings.unpersist()
    heldout = every.subset(held) if holdout is not None else None
    log.info("both models trained in %.1fs", time.perf_counter() - started)
    return Training(
        TrainedModel(**model, log_position=log_position, data_fingerprint=data_fingerprint), biases,
        None if heldout is None else (heldout.users, catalog.movie_ids[heldout.rows], heldout.values),
    )


def movie_catalog(movies):
    """The catalog's ids, titles and genres in id order (statistics come with ``with_statistics``)."""
    table = movies.select("movieId", "title", "genres").orderBy("movieId").toArrow()
    count = table.num_rows
    return MovieTable(
        movie_ids=table.column("movieId").to_numpy(zero_copy_only=False).astype(np.int64),
        titles=table.column("title").to_pylist(),
        genres=[parse_genres(g) for g in table.column("genres").to_pylist()],
        ratings_count=np.zeros(count, np.int64),
        damped_mean=np.zeros(count),
    )


def driver_ratings(table, catalog):
    """The ratings of a pyarrow Table of catalog movies as driver arrays sorted by user then movie,
    and the held-out candidates column in the same order (None without one).

    One sort serves the held-out split, the ratings index and the users' counts.
    """
    users = table.column("userId").to_numpy().astype(np.int64)
    rows = catalog.rows(table.column("movieId").to_numpy().astype(np.int64))
    order = np.argsort(users * len(catalog.movie_ids) + rows)  # one rating per pair: the keys are distinct
    ratings = Ratings(
        users=users[order], rows=rows[order], values=table.column("rating").to_numpy().astype(np.float32)[order],
        timestamps=table.column("timestamp").to_numpy(zero_copy_only=False).astype(np.int64)[order],
    )
    if HELD not in table.column_names:
        return ratings, None
    return ratings, table.column(HELD).to_numpy(zero_copy_only=False).astype(bool)[order]


def user_runs(users):
    """Ids, first positions and counts of the runs of equal ids in sorted ``users``."""
    starts = np.flatnonzero(np.diff(users, prepend=users[:1] - 1)) if len(users) else np.empty(0, np.int64)
    return users[starts], starts, np.diff(np.append(starts, len(users)))


def held_mask(candidates, ratings, holdout):
    """Which of the sorted ``ratings`` the held-out split keeps out (candidates of users with enough
    ratings), and ``eligible(user_ids)``: whether those users have enough. Without a split none."""
    if holdout is None:
        return np.zeros(len(ratings.values), bool), lambda user_ids: np.zeros(len(user_ids), bool)
    user_ids, _, counts = user_runs(ratings.users)
    enough = counts >= holdout.min_user_ratings
    return candidates & np.repeat(enough, counts), lambda ids: enough[np.searchsorted(user_ids, ids)]


def with_statistics(catalog, ratings, popularity_damping, users):
    """``catalog`` with rating counts, damped and plain means and first ratings of ``ratings`` (by
    ``users`` users); and a summary."""
    movies = len(catalog.movie_ids)
    counts = np.bincount(ratings.rows, minlength=movies).astype(np.int64)
    totals = np.bincount(ratings.rows, weights=ratings.values.astype(np.float64), minlength=movies)
    # what "new" means for discovery: the movie's first rating in the training data
    first = np.full(movies, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(first, ratings.rows, ratings.timestamps)
    first[counts == 0] = -1
    mean = float(totals.sum() / counts.sum())
    summary = {
        "ratings": int(counts.sum()), "users": int(users),
        "min": float(ratings.values.min()), "max": float(ratings.values.max()), "mean": mean,
    }
    log.info("%d ratings by %d users on %d catalog movies, scale %s..%s",
             summary["ratings"], summary["users"], movies, summary["min"], summary["max"])
    catalog = MovieTable(
        movie_ids=catalog.movie_ids, titles=catalog.titles, genres=catalog.genres, ratings_count=counts,
        damped_mean=(totals + popularity_damping * mean) / (counts + popularity_damping),
        mean_rating=np.divide(totals, counts, out=np.full(movies, np.nan), where=counts > 0),
        first_rated=first,
    )
    return catalog, summary


@dataclass(frozen=True)
class RatingIndex:
    """The ratings sorted by user then movie: users' ids, CSR offsets, rows and values."""

    user_ids: np.ndarray
    user_index: np.ndarray  # each rating's user, as an index into user_ids
    offsets: np.ndarray
    rows: np.ndarray
    values: np.ndarray


def rating_index(ratings):
    """The driver's ratings index of ``ratings`` (Ratings sorted by user then movie)."""
    user_ids, starts, counts = user_runs(ratings.users)
    user_index = np.repeat(np.arange(len(user_ids)), counts)
    offsets = np.append(starts, len(ratings.users)).astype(np.int64)
    return RatingIndex(user_ids, user_index, offsets, ratings.rows, ratings.values)


@dataclass(frozen=True)
class UserMovieStats:
    """Per-user and per-movie values of one training, on the driver and as small Spark frames.

    ``users`` has ``userId, user_bias, user_eligible`` (eligible: its held-out candidates are
    held out); ``movies`` has ``movieId, movie_bias``.
    """

    global_mean: float
    user_bias: np.ndarray  # float64, aligned with the index's user_ids
    movie_ids: np.ndarray  # movies with ratings
    movie_bias: np.ndarray  # float64, aligned with movie_ids
    tables: tuple  # (users, movies) pyarrow Tables
    frames: list  # the cached Spark frames made of them, unpersisted after training


def per_user_and_movie(ratings, index, catalog, summary, params, eligible):
    """Damped movie then user biases (zero in implicit mode)."""
    users, movies = len(index.user_ids), len(catalog.movie_ids)
    counts = catalog.ratings_count
    rated = counts > 0
    movie_bias = np.zeros(movies)
    user_bias = np.zeros(users)
    if not params.implicit_prefs:
        mean, damping = summary["mean"], params.bias_damping
        values = ratings.values.astype(np.float64)
        movie_bias = np.bincount(ratings.rows, weights=values - mean, minlength=movies) / (counts + damping)
        left = values - mean - movie_bias[ratings.rows]
        per_user = np.bincount(index.user_index, minlength=users)
        user_bias = np.bincount(index.user_index, weights=left, minlength=users) / (per_user + damping)
    tables = (
        pa.table({"userId": index.user_ids.astype(np.int32), "user_bias": user_bias,
                  "user_eligible": eligible(index.user_ids)}),
        pa.table({"movieId": catalog.movie_ids[rated].astype(np.int32), "movie_bias": movie_bias[rated]}),
    )
    return UserMovieStats(summary["mean"], user_bias, catalog.movie_ids[rated], movie_bias[rated], tables, [])


def spark_biases(spark, stats):
    """The biases as Spark frames, for offline jobs that score in Spark."""
    users = small_frame(spark, stats, stats.tables[0].select(["userId", "user_bias"]))
    movies = small_frame(spark, stats, stats.tables[1].select(["movieId", "movie_bias"]))
    return Biases(stats.global_mean, users, movies)


def small_frame(spark, stats, table):
    frame = spark.createDataFrame(table).cache()
    stats.frames.append(frame)
    return frame


def fitting_frames(ratings, stats, has_holdout, params):
    """The rating ALS's input (``residual``) and the ranking ALS's (``preference``): one read of the cache each."""
    spark = ratings.sparkSession
    users = F.broadcast(small_frame(spark, stats, stats.tables[0]))
    movies = F.broadcast(small_frame(spark, stats, stats.tables[1]))
    fitted = ratings.join(users, "userId").join(movies, "movieId")
    if has_holdout:  # the same pairs as the driver's held_mask
        fitted = fitted.filter(~(F.col(HELD) & F.col("user_eligible")))
    residual = F.col("rating") - stats.global_mean - F.col("movie_bias") - F.col("user_bias")
    rating_input = fitted.select(
        "userId", "movieId", (F.col("rating") if params.implicit_prefs else residual).alias("target")
    )
    # The ranking ALS gets only the ratings above the shift. A rating at or below it has
    # preference 0, and Spark's implicit ALS adds such a row to the normal equations with
    # confidence weight 0 and leaves it out of the regularization count: it changes no
    # factor, but it still costs a rank-k update per iteration (about half the rows).
    # Users and movies left with no row get no factors (ALS-WR would give them no
    # regularization, and a singular system whenever the rank exceeds the other side's
    # size): such a user's top-N is the popular list.
    ranking_input = fitted.filter(F.col("rating") > params.ranking_rating_shift).select(
        "userId", "movieId", preference(F.col("rating"), params.ranking_rating_shift).alias("preference")
    )
    return rating_input, ranking_input


def fit_both(frames, summary, params):
    """Fit the rating and the ranking ALS concurrently: Spark runs the jobs of two threads at once.

    ALS's stages have one task per block and its iterations wait on the driver in between;
    a second fit's tasks fill the cores the first leaves idle.
    """
    rating_input, ranking_input = frames
    fitted = {}

    def fit_ranking():
        try:
            fitted["ranking"] = train_ranking_als(ranking_input, params)
        except BaseException as error:  # re-raised on the calling thread
            fitted["ranking_error"] = error

    thread = InheritableThread(target=fit_ranking, name="ranking-als", daemon=True)
    thread.start()  # the longer fit first: FIFO scheduling serves its tasks first
    try:
        als_model = train_als(rating_input, summary, params)
    finally:
        thread.join()
    if "ranking_error" in fitted:
        raise fitted["ranking_error"]
    return als_model, fitted["ranking"]


def train_als(rating_input, summary, params):
    with stage("training the rating ALS on %d ratings (rank %d, %d iterations)",
               summary["ratings"], params.rank, params.iterations):
        als = estimator(
            rating_input, params.seed, rank=params.rank, maxIter=params.iterations, regParam=params.reg_param,
            ratingCol="target", implicitPrefs=params.implicit_prefs, alpha=params.alpha,
            nonnegative=params.nonnegative, coldStartStrategy="nan",
        )
        return als.fit(rating_input)


def estimator(ratings, seed, **settings):
    """Spark ML's ALS on users and movies of ``ratings`` with ``settings``, one block per core."""
    parallelism = ratings.sparkSession.sparkContext.defaultParallelism
    # One block per core: the default 10 x 10 blocks cost more in shuffles than
    # they gain on small clusters (measured in bench/training_scale.py).
    return ALS(
        seed=seed, userCol="userId", itemCol="movieId", numUserBlocks=parallelism, numItemBlocks=parallelism,
        checkpointInterval=CHECKPOINT_INTERVAL, intermediateStorageLevel="MEMORY_AND_DISK", **settings,
    )


def preference(ratings, shift):
    """The ranking model's preference of each rating: ``max(rating - shift, 0)``."""
    return F.greatest(ratings - shift, F.lit(0.0))


def train_ranking_als(ranking_input, params):
    """Implicit-feedback ALS on each rating's preference: the model top-N lists are ranked by.

    A rating at or below the shift has preference 0: its user and movie still get factors,
    but the row adds nothing and does not count in ALS-WR's scaled regularization.
    """
    with stage("training the ranking ALS (rank %d, %d iterations)", params.ranking_rank, params.ranking_iterations):
        als = estimator(
            ranking_input, params.seed, rank=params.ranking_rank, maxIter=params.ranking_iterations,
            regParam=params.ranking_reg_param, alpha=params.ranking_alpha, implicitPrefs=True,
            ratingCol="preference",
        )
        return als.fit(ranking_input)


def ranking_arrays(als_model, catalog, user_ids, rank):
    """The ranking model's factors on the driver: movies in catalog order, users aligned with ``user_ids``."""
    item_ids, item_vectors = factors_to_numpy(als_model.itemFactors, rank)
    item_factors = np.zeros((len(catalog.movie_ids), rank), np.float32)
    item_factors[catalog.rows(item_ids)] = item_vectors
    factor_user_ids, factor_vectors = factors_to_numpy(als_model.userFactors, rank)
    user_factors = np.full((len(user_ids), rank), np.nan, np.float32)
    user_factors[np.searchsorted(user_ids, factor_user_ids)] = factor_vectors
    return dict(rank_item_factors=item_factors, rank_user_factors=user_factors)


def build_model(catalog, summary, index, als_model, stats, params):
    """The TrainedModel fields of one training, as keyword arguments."""
    item_ids, item_vectors = factors_to_numpy(als_model.itemFactors, params.rank)
    item_factors = np.zeros((len(catalog.movie_ids), params.rank), np.float32)
    has_factors = np.zeros(len(catalog.movie_ids), bool)
    item_rows = catalog.rows(item_ids)
    item_factors[item_rows] = item_vectors
    has_factors[item_rows] = True
    factor_user_ids, factor_vectors = factors_to_numpy(als_model.userFactors, params.rank)
    user_factors = np.full((len(index.user_ids), params.rank), np.nan, np.float32)
    user_factors[np.searchsorted(index.user_ids, factor_user_ids)] = factor_vectors
    item_bias = np.zeros(len(catalog.movie_ids), np.float32)
    item_bias[catalog.rows(stats.movie_ids)] = stats.movie_bias
    trained_at = datetime.now(timezone.utc)
    log.info("factors of %d users and %d movies", len(factor_user_ids), len(item_ids))
    return dict(
        version=model_version(trained_at), trained_at=trained_at, params=params.as_dict(), catalog=catalog,
        item_factors=item_factors, has_factors=has_factors, user_ids=index.user_ids, user_factors=user_factors,
        rating_offsets=index.offsets, rated_rows=index.rows, rated_values=index.values,
        rating_scale=(float(summary["min"]), float(summary["max"])),
        score_offset=0.0 if params.implicit_prefs else stats.global_mean,
        user_bias=stats.user_bias.astype(np.float32), item_bias=item_bias,
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
    global mean and movie biases leave (``train`` computes the same on the driver). The
    frames are cached; ``Biases.unpersist`` frees them.
    """
    mean = ratings.agg(F.avg("rating")).first()[0]
    movies = ratings.groupBy("movieId").agg(
        (F.sum(F.col("rating") - mean) / (F.count(F.lit(1)) + damping)).alias("movie_bias")
    ).cache()
    users = ratings.join(movies, "movieId").groupBy("userId").agg(
        (F.sum(F.col("rating") - mean - F.col("movie_bias")) / (F.count(F.lit(1)) + damping)).alias("user_bias")
    ).cache()
    return Biases(float(mean), users, movies)
