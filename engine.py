"""RecommendationEngine: ALS trained in Spark, every read answered from NumPy on the driver."""

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np
from pyspark.ml.recommendation import ALS
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from dataset import MAX_ID

log = logging.getLogger(__name__)


class RecommendationError(Exception):
    """Base class of the engine's domain errors."""


class NotFittedError(RecommendationError):
    """The engine was asked to serve before ``fit``."""


class UnknownMovieError(RecommendationError, LookupError):
    """A movie id that is not in the catalog."""

    def __init__(self, movie_id):
        super().__init__(f"movie {movie_id} is not in the catalog")
        self.movie_id = movie_id


class InvalidRatingError(RecommendationError, ValueError):
    """One rating of a batch is invalid; ``index`` is its position in the batch."""

    def __init__(self, index, reason):
        super().__init__(f"rating {index}: {reason}")
        self.index = index
        self.reason = reason


@dataclass(frozen=True)
class Movie:
    movie_id: int
    title: str
    genres: tuple
    ratings_count: int


@dataclass(frozen=True)
class Prediction:
    """A movie with the rating predicted for one user, clipped to the rating scale."""

    movie: Movie
    rating: float
    personalized: bool


@dataclass(frozen=True)
class Recommendations:
    user_id: int
    personalized: bool
    model_version: str
    items: list


@dataclass(frozen=True)
class UserRating:
    movie: Movie
    rating: float


@dataclass(frozen=True)
class Catalog:
    """Movies in catalog order (ascending id) with their rating statistics."""

    movie_ids: np.ndarray  # int64, sorted
    titles: list
    genres: list  # tuples of genre names
    ratings_count: np.ndarray  # int64
    damped_mean: np.ndarray  # float64, the popularity score of non-personalized lists

    def row(self, movie_id):
        """Row of ``movie_id``, or -1 when it is not in the catalog."""
        if not 0 <= movie_id <= MAX_ID:
            return -1
        row = int(np.searchsorted(self.movie_ids, movie_id))
        if row < len(self.movie_ids) and self.movie_ids[row] == movie_id:
            return row
        return -1

    def rows(self, movie_ids):
        """Rows of an array of catalog movie ids."""
        return np.searchsorted(self.movie_ids, movie_ids).astype(np.int64)

    def known(self, movie_ids):
        """Which of an array of movie ids are in the catalog."""
        rows = np.minimum(self.rows(movie_ids), len(self.movie_ids) - 1)
        return self.movie_ids[rows] == movie_ids

    def movie(self, row):
        return Movie(
            movie_id=int(self.movie_ids[row]),
            title=self.titles[row],
            genres=self.genres[row],
            ratings_count=int(self.ratings_count[row]),
        )


@dataclass(frozen=True)
class UserState:
    """A user's ratings (as catalog rows), bias and factor vector (None: not personalizable)."""

    rows: np.ndarray
    ratings: np.ndarray
    factors: object
    bias: float = 0.0


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
class Serving:
    """What reads see: a model and the users folded in against it since it was trained."""

    model: "TrainedModel"
    users: dict  # user_id -> UserState


@dataclass(frozen=True)
class TrainedModel:
    """Everything one training produced, on the driver; replaced whole, never mutated."""

    version: str
    trained_at: datetime
    params: dict
    catalog: Catalog
    item_factors: np.ndarray  # float32 (movies, rank) in catalog order, zeros where none
    has_factors: np.ndarray  # bool (movies,)
    user_ids: np.ndarray  # int64, sorted: users with training ratings
    user_factors: np.ndarray  # float32 (users, rank), NaN rows for users ALS did not see
    rating_offsets: np.ndarray  # CSR over user_ids into rated_rows / rated_values
    rated_rows: np.ndarray
    rated_values: np.ndarray
    rating_scale: tuple
    global_mean: float
    log_position: int = 0  # ratings of the log the training data included
    data_fingerprint: str = ""  # of the dataset files trained on
    spark_model: object = field(default=None, compare=False, repr=False)  # the ALSModel; not saved with the arrays
    # Biased model: score = score_offset + user bias + movie bias + factors' dot product.
    # Implicit mode has no biases: offset 0, zero biases.
    score_offset: float = 0.0
    user_bias: np.ndarray = None  # float32 (users,), aligned with user_ids
    item_bias: np.ndarray = None  # float32 (movies,) in catalog order, 0 for unrated movies
    implicit_prefs: bool = False

    def user(self, user_id):
        """The trained state of ``user_id``; empty when the user had no training ratings."""
        index = int(np.searchsorted(self.user_ids, user_id)) if 0 <= user_id <= MAX_ID else 0
        if index == len(self.user_ids) or self.user_ids[index] != user_id:
            return UserState(np.empty(0, np.int64), np.empty(0, np.float32), None)
        span = slice(self.rating_offsets[index], self.rating_offsets[index + 1])
        factors = self.user_factors[index]
        return UserState(
            self.rated_rows[span], self.rated_values[span],
            None if np.isnan(factors[0]) else factors, float(self.user_bias[index]),
        )


class RecommendationEngine:
    """Collaborative filtering with Spark ALS, served from factors copied to the driver.

    Explicit ratings train a biased model: the global mean and damped user and movie
    biases, then ALS on what they leave unexplained. Implicit mode trains Spark's
    implicit-feedback ALS on the ratings as confidences, for ranking only.

    Parameters
    ----------
    rank : int
        Number of latent factors.
    iterations : int
        ALS iterations.
    reg_param : float
        ALS regularization; Spark scales it by each user's and movie's rating count.
    seed : int
        Seed of ALS's random initialization.
    popularity_damping : float
        Pseudo-ratings at the global mean added to each movie's mean for
        non-personalized lists and estimates.
    bias_damping : float
        Pseudo-ratings of zero bias added to each movie's and user's bias (explicit mode).
    implicit_prefs : bool
        Train implicit-feedback ALS (ratings are confidences, e.g. play counts).
    alpha : float
        Implicit mode's confidence scale: confidence is ``1 + alpha * rating``.
    """

    def __init__(
        self, rank=10, iterations=15, reg_param=0.15, seed=42, popularity_damping=10.0,
        bias_damping=10.0, implicit_prefs=False, alpha=1.0, ratings_log=None,
    ):
        for name, value in (("rank", rank), ("iterations", iterations)):
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name, value in (("reg_param", reg_param), ("bias_damping", bias_damping), ("alpha", alpha)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        self.rank = rank
        self.iterations = iterations
        self.reg_param = reg_param
        self.seed = seed
        self.popularity_damping = popularity_damping
        self.bias_damping = bias_damping
        self.implicit_prefs = bool(implicit_prefs)
        self.alpha = alpha
        self.ratings_log = ratings_log  # where accepted ratings are made durable; None keeps them in memory
        self.ratings = None  # Spark DataFrame of the latest training
        self.biases = None  # Biases of the latest training in Spark, for evaluation (None in implicit mode)
        self._serving = None
        self._accepted = 0  # ratings accepted so far, the log's record count
        self._unmodelled = {}  # user_id -> [(position, movie_ids, ratings)] accepted after the model's data
        self._write_lock = threading.Lock()

    def fit(self, dataset):
        """Train on ``dataset`` and serve the result; see ``train``.

        Returns
        -------
        RecommendationEngine
            ``self``, fitted.
        """
        self.swap_model(self.train(dataset))
        return self

    def train(self, dataset, log_position=0, data_fingerprint=""):
        """Train ALS in Spark on ``dataset`` and copy what serving needs to the driver.

        Serving is not touched: safe to call from a background thread while reads go on.

        Parameters
        ----------
        dataset : dataset.Dataset
        log_position : int
            How many ratings of the log ``dataset`` includes.
        data_fingerprint : str
            Identifies the dataset files, so a saved model can be matched to them.

        Returns
        -------
        TrainedModel
        """
        was_cached = dataset.ratings.is_cached
        ratings = dataset.ratings.cache()
        try:
            catalog, summary = self._catalog_and_summary(dataset.movies, ratings)
            if summary["ratings"] == 0:
                raise RecommendationError("the dataset has no valid ratings")
            biases = None if self.implicit_prefs else fit_biases(ratings, self.bias_damping)
            als_model = self._train_als(ratings, summary, biases)
            model = self._build_model(catalog, summary, als_model, ratings, biases, log_position, data_fingerprint)
        finally:
            if not was_cached:  # a caller's cache (evaluation splits) stays
                ratings.unpersist()
        if self.biases is not None:
            self.biases.unpersist()
        self.ratings, self.biases = dataset.ratings, biases
        return model

    def _catalog_and_summary(self, movies, ratings):
        started = time.perf_counter()
        summary = ratings.agg(
            F.count(F.lit(1)).alias("ratings"),
            F.countDistinct("userId").alias("users"),
            F.min("rating").alias("min"),
            F.max("rating").alias("max"),
            F.avg("rating").alias("mean"),
        ).first().asDict()
        per_movie = ratings.groupBy("movieId").agg(F.count(F.lit(1)).alias("n"), F.sum("rating").alias("total"))
        table = movies.join(per_movie, "movieId", "left").orderBy("movieId").toArrow()
        counts = table.column("n").to_numpy(zero_copy_only=False)
        counts = np.nan_to_num(counts.astype(np.float64)).astype(np.int64)
        totals = np.nan_to_num(table.column("total").to_numpy(zero_copy_only=False).astype(np.float64))
        mean = summary["mean"] if summary["mean"] is not None else 0.0
        damped = (totals + self.popularity_damping * mean) / (counts + self.popularity_damping)
        catalog = Catalog(
            movie_ids=table.column("movieId").to_numpy(zero_copy_only=False).astype(np.int64),
            titles=table.column("title").to_pylist(),
            genres=[parse_genres(g) for g in table.column("genres").to_pylist()],
            ratings_count=counts,
            damped_mean=damped,
        )
        log.info(
            "%d ratings by %d users on %d catalog movies, scale %s..%s (%.1fs)",
            summary["ratings"], summary["users"], len(catalog.movie_ids),
            summary["min"], summary["max"], time.perf_counter() - started,
        )
        return catalog, summary

    def params(self):
        """The training parameters, as reported by ``summary`` and used by the fold-in."""
        return {
            "rank": self.rank, "iterations": self.iterations, "reg_param": self.reg_param, "seed": self.seed,
            "bias_damping": self.bias_damping, "implicit_prefs": self.implicit_prefs, "alpha": self.alpha,
        }

    def _train_als(self, ratings, summary, biases):
        log.info("training ALS on %d ratings: %s", summary["ratings"], self.params())
        started = time.perf_counter()
        als = ALS(
            rank=self.rank,
            maxIter=self.iterations,
            regParam=self.reg_param,
            seed=self.seed,
            userCol="userId",
            itemCol="movieId",
            ratingCol="rating" if biases is None else "residual",
            implicitPrefs=self.implicit_prefs,
            alpha=self.alpha,
            coldStartStrategy="nan",
            # One block per core: the default 10 x 10 blocks cost more in shuffles than
            # they gain on small clusters (measured in bench/training_scale.py).
            numUserBlocks=ratings.sparkSession.sparkContext.defaultParallelism,
            numItemBlocks=ratings.sparkSession.sparkContext.defaultParallelism,
        )
        als_model = als.fit(ratings if biases is None else residuals(ratings, biases))
        log.info("ALS trained in %.1fs", time.perf_counter() - started)
        return als_model

    def _build_model(self, catalog, summary, als_model, ratings, biases, log_position, data_fingerprint):
        started = time.perf_counter()
        item_ids, item_vectors = factors_to_numpy(als_model.itemFactors, self.rank)
        item_factors = np.zeros((len(catalog.movie_ids), self.rank), np.float32)
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

        factor_user_ids, factor_vectors = factors_to_numpy(als_model.userFactors, self.rank)
        user_factors = np.full((len(user_ids), self.rank), np.nan, np.float32)
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
        return TrainedModel(
            version=model_version(trained_at),
            trained_at=trained_at,
            params=self.params(),
            catalog=catalog,
            item_factors=item_factors,
            has_factors=has_factors,
            user_ids=user_ids,
            user_factors=user_factors,
            rating_offsets=offsets,
            rated_rows=rows,
            rated_values=values,
            rating_scale=(float(summary["min"]), float(summary["max"])),
            global_mean=float(summary["mean"]),
            score_offset=0.0 if biases is None else biases.global_mean,
            user_bias=user_bias,
            item_bias=item_bias,
            implicit_prefs=self.implicit_prefs,
            log_position=log_position,
            data_fingerprint=data_fingerprint,
            spark_model=als_model,
        )

    # -- reads: answered from the driver's arrays, never by a Spark job --------------------

    def _current(self):
        serving = self._serving
        if serving is None:
            raise NotFittedError("the engine has no trained model yet")
        return serving

    @property
    def model(self):
        """The TrainedModel serving reads, or None before the first one."""
        serving = self._serving
        return None if serving is None else serving.model

    @staticmethod
    def _user_state(serving, user_id):
        return serving.users.get(user_id) or serving.model.user(user_id)

    def recommend(self, user_id, count=10, min_ratings=25):
        """Top movies for a user, best first, never one the user has rated.

        Parameters
        ----------
        user_id : int
        count : int
            At most this many movies.
        min_ratings : int
            Only movies with at least this many ratings are candidates.

        Returns
        -------
        Recommendations
            Personalized when the user has a factor vector, otherwise the movies with
            the best damped mean rating.
        """
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        if min_ratings < 0:
            raise ValueError(f"min_ratings must be at least 0, got {min_ratings}")
        serving = self._current()
        model, user = serving.model, self._user_state(serving, user_id)
        personalized = user.factors is not None
        if personalized:
            scores = score_rows(model, user, slice(None))
            eligible = model.has_factors & (model.catalog.ratings_count >= min_ratings)
        else:
            scores = model.catalog.damped_mean
            eligible = model.catalog.ratings_count >= max(min_ratings, 1)
        scores = np.where(eligible, scores, -np.inf)
        scores[user.rows] = -np.inf
        items = [
            Prediction(model.catalog.movie(row), self._clip(model, scores[row]), personalized)
            for row in top_rows(scores, count)
        ]
        return Recommendations(user_id, personalized, model.version, items)

    def predict(self, user_id, movie_id):
        """Predicted rating of one movie for one user.

        Raises
        ------
        UnknownMovieError
            When ``movie_id`` is not in the catalog.
        """
        serving = self._current()
        model, user = serving.model, self._user_state(serving, user_id)
        row = model.catalog.row(movie_id)
        if row < 0:
            raise UnknownMovieError(movie_id)
        if user.factors is not None and model.has_factors[row]:
            score = float(score_rows(model, user, row))
            return Prediction(model.catalog.movie(row), self._clip(model, score), True)
        return Prediction(model.catalog.movie(row), self._clip(model, model.catalog.damped_mean[row]), False)

    def user_ratings(self, user_id):
        """The user's own ratings in movie id order (empty for an unknown user)."""
        serving = self._current()
        model, user = serving.model, self._user_state(serving, user_id)
        return [UserRating(model.catalog.movie(row), float(value)) for row, value in zip(user.rows, user.ratings)]

    def _clip(self, model, score):
        if model.implicit_prefs and math.isfinite(score):
            return float(score)  # a preference score, not a rating: nothing to clip to
        low, high = model.rating_scale
        return float(min(max(score, low), high))

    def summary(self):
        """What the serving model was trained on and when, as a dict."""
        model = self._current().model
        return {
            "modelVersion": model.version,
            "trainedAt": model.trained_at.isoformat(),
            "rank": model.item_factors.shape[1],
            "params": model.params,
            "users": int(len(model.user_ids)),
            "movies": int(len(model.catalog.movie_ids)),
            "ratings": int(len(model.rated_rows)),
            "ratingScale": list(model.rating_scale),
            "logPosition": model.log_position,
            "acceptedRatings": self._accepted,
        }

    # -- writes ----------------------------------------------------------------------------

    def add_ratings(self, user_id, ratings):
        """Add or replace a user's ratings, durably, and refit that user's factors at once.

        The whole batch is validated before anything changes. With a ratings log the
        ratings are appended, and fsynced before this returns: a caller acknowledges
        them only after that. The user's factor vector
        is re-solved against the fixed item factors with the training regularization,
        so the next read reflects the new ratings without a retrain.

        Parameters
        ----------
        user_id : int
        ratings : sequence of (movie_id, rating)

        Returns
        -------
        list of UserRating
            The accepted ratings, in the order given.

        Raises
        ------
        InvalidRatingError
            For the first invalid rating; nothing is applied.
        """
        self._current()
        with self._write_lock:  # the log's order is the order ratings are applied in
            serving = self._serving
            movie_ids, values = self._validated(serving.model, ratings)
            if self.ratings_log is not None:
                log_size = self.ratings_log.write(user_id, ratings, int(time.time()))
            self._accepted += len(movie_ids)
            self._unmodelled.setdefault(user_id, []).append((self._accepted, movie_ids, values))
            state = self._user_state(serving, user_id)
            serving.users[user_id] = fold_in(serving.model, state.rows, state.ratings, movie_ids, values)
        if self.ratings_log is not None:
            self.ratings_log.sync(log_size)  # outside the lock, so concurrent writers share an fsync
        catalog = serving.model.catalog
        return [UserRating(catalog.movie(catalog.row(m)), float(v)) for m, v in zip(movie_ids, values)]

    def replay(self, logged, covered):
        """Take the ratings log's records as accepted, those after ``covered`` as unmodelled.

        Called at start-up, before ``swap_model``, so the served model gets the logged
        ratings its training data did not include.

        Parameters
        ----------
        logged : pyarrow.Table
            The log's records (``ratings_log.RatingsLog.open``).
        covered : int
            How many of them the model to be served was trained on.
        """
        users = logged.column("userId").to_numpy().astype(np.int64)[covered:]
        movies = logged.column("movieId").to_numpy().astype(np.int64)[covered:]
        values = logged.column("rating").to_numpy().astype(np.float32)[covered:]
        order = np.argsort(users, kind="stable")  # by user, in log order within each
        starts = np.flatnonzero(np.r_[True, users[order][1:] != users[order][:-1]]) if len(users) else []
        unmodelled = {}
        for begin, end in zip(starts, [*starts[1:], len(order)]):
            mine = order[begin:end]
            # the last rating of each movie wins, as it did when it was accepted
            last = len(mine) - 1 - np.unique(movies[mine][::-1], return_index=True)[1]
            unmodelled[int(users[mine[0]])] = [(covered + int(mine[-1]) + 1, movies[mine][last], values[mine][last])]
        with self._write_lock:
            self._accepted = logged.num_rows
            self._unmodelled = unmodelled
        log.info("%d logged ratings of %d users replayed on top of the model", len(users), len(unmodelled))

    def accepted_position(self):
        """(ratings accepted, log bytes holding them): what a retrain started now covers."""
        with self._write_lock:
            return self._accepted, None if self.ratings_log is None else self.ratings_log.size

    def unmodelled_count(self):
        """Ratings accepted that the serving model was not trained on."""
        model = self.model
        return self._accepted - (model.log_position if model is not None else 0)

    def swap_model(self, model):
        """Serve ``model`` from now on, with ratings accepted after its data folded in again.

        Raises
        ------
        ValueError
            If ``model`` is not newer than the one serving: versions never go backwards.
        """
        with self._write_lock:
            current = self._serving
            if current is not None and model.version <= current.model.version:
                raise ValueError(f"model {model.version} is not newer than {current.model.version}")
            users = {}
            for user_id, entries in list(self._unmodelled.items()):
                entries = [entry for entry in entries if entry[0] > model.log_position]
                if not entries:
                    del self._unmodelled[user_id]
                    continue
                self._unmodelled[user_id] = entries
                state = model.user(user_id)
                for _, movie_ids, values in entries:
                    known = model.catalog.known(movie_ids)
                    state = fold_in(model, state.rows, state.ratings, movie_ids[known], values[known])
                users[user_id] = state
            self._serving = Serving(model, users)
        log.info("serving model %s (%d users folded in again)", model.version, len(users))

    @staticmethod
    def _validated(model, ratings):
        """The batch as (movie_ids, ratings) arrays, or InvalidRatingError for its first bad rating."""
        if len(ratings) == 0:
            raise InvalidRatingError(0, "no ratings given")
        low, high = model.rating_scale
        seen = set()
        for index, (movie_id, rating) in enumerate(ratings):
            if model.catalog.row(movie_id) < 0:
                raise InvalidRatingError(index, f"movie {movie_id} is not in the catalog")
            if not (math.isfinite(rating) and low <= rating <= high):
                raise InvalidRatingError(index, f"rating {rating:g} is outside the scale {low:g} to {high:g}")
            if movie_id in seen:
                raise InvalidRatingError(index, f"movie {movie_id} is rated twice in this batch")
            seen.add(movie_id)
        movie_ids = np.array([movie_id for movie_id, _ in ratings], np.int64)
        return movie_ids, np.array([rating for _, rating in ratings], np.float32)


def model_version(trained_at):
    """A model's version: its UTC training time, so versions sort as they were trained."""
    return trained_at.strftime("%Y%m%dT%H%M%S.%fZ")


def parse_genres(genres):
    if not genres or genres == "(no genres listed)":
        return ()
    return tuple(genres.split("|"))


def factors_to_numpy(factors, rank):
    """Ids and an (n, rank) float32 matrix from an ALS ``userFactors``/``itemFactors`` frame."""
    table = factors.toArrow()
    ids = table.column("id").to_numpy().astype(np.int64)
    flat = table.column("features").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return ids, flat.astype(np.float32).reshape(len(ids), rank)


def top_rows(scores, count):
    """Rows of the ``count`` highest finite scores, highest first."""
    candidates = np.flatnonzero(np.isfinite(scores))
    if count < len(candidates):
        best = np.argpartition(-scores[candidates], count - 1)[:count]
        candidates = candidates[best]
    return candidates[np.argsort(-scores[candidates], kind="stable")]


def merge_ratings(rows, values, new_rows, new_values):
    """Union of two rating sets by catalog row, the new value winning; sorted by row."""
    keep = ~np.isin(rows, new_rows)
    merged_rows = np.concatenate([rows[keep], new_rows])
    merged_values = np.concatenate([values[keep], new_values])
    order = np.argsort(merged_rows, kind="stable")
    return merged_rows[order], merged_values[order]


def fold_in(model, rows, values, new_movie_ids, new_values):
    """A user's state after adding ratings: merged ratings and re-solved factors."""
    merged_rows, merged_values = merge_ratings(rows, values, model.catalog.rows(new_movie_ids), new_values)
    bias, factors = fold_in_user(model, merged_rows, merged_values)
    return UserState(merged_rows, merged_values, factors, bias)


def solve_user_factors(item_factors, has_factors, rows, values, reg_param):
    """Least-squares user factors against fixed item factors, as one ALS half-step.

    Spark's explicit ALS solves ``(V'V + reg_param * n * I) x = V'r`` over the ``n``
    rated movies that have factors; this is the same system. Returns None when no
    rated movie has factors.
    """
    known = has_factors[rows]
    if not known.any():
        return None
    item = item_factors[rows[known]].astype(np.float64)
    rating = values[known].astype(np.float64)
    gram = item.T @ item + reg_param * len(rating) * np.eye(item.shape[1])
    return np.linalg.solve(gram, item.T @ rating).astype(np.float32)


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


def score_rows(model, user, rows):
    """Unclipped scores of catalog ``rows`` for a user with factors."""
    return model.score_offset + user.bias + model.item_bias[rows] + model.item_factors[rows] @ user.factors


def fold_in_user(model, rows, values):
    """A user's bias and factors from their ratings, against the model's fixed movie side.

    This is how training fits a user: the damped bias over the user's ratings, then
    ALS's half-step on the residuals (or the implicit half-step in implicit mode), so
    folding in a training user reproduces its trained bias and factors.

    Returns
    -------
    (float, numpy.ndarray or None)
        The bias and the factors (None when no rated movie has factors).
    """
    params = model.params
    if model.implicit_prefs:
        factors = solve_implicit_user_factors(
            model.item_factors, model.has_factors, rows, values, params["reg_param"], params["alpha"]
        )
        return 0.0, factors
    offsets = values.astype(np.float64) - model.score_offset - model.item_bias[rows]
    bias = float(offsets.sum() / (len(offsets) + params["bias_damping"]))
    factors = solve_user_factors(model.item_factors, model.has_factors, rows, offsets - bias, params["reg_param"])
    return bias, factors


def solve_implicit_user_factors(item_factors, has_factors, rows, values, reg_param, alpha):
    """User factors of implicit-feedback ALS against fixed item factors, as Spark solves them.

    Spark solves ``(Y'Y + Y'(C - I)Y + reg_param * n * I) x = Y'Cp`` with confidence
    ``c = 1 + alpha * |r|``, preference ``p = 1`` for ``r > 0``, the Gram matrix over
    every movie with factors and ``n`` the count of positive ratings. Returns None when
    no rated movie has factors.
    """
    known = has_factors[rows]
    if not known.any():
        return None
    all_items = item_factors[has_factors].astype(np.float64)
    item = item_factors[rows[known]].astype(np.float64)
    rating = values[known].astype(np.float64)
    extra = alpha * np.abs(rating)
    positive = rating > 0
    gram = all_items.T @ all_items + (item.T * extra) @ item
    gram += reg_param * positive.sum() * np.eye(item.shape[1])
    return np.linalg.solve(gram, item[positive].T @ (1.0 + extra[positive])).astype(np.float32)
