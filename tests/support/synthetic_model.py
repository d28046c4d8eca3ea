"""A TrainedModel made of random arrays, without Spark: for tests in child processes and benchmarks of the driver's code."""

from datetime import datetime, timezone

import numpy as np

from recommender.model.movies import MovieTable
from recommender.model.params import ModelParams
from recommender.model.trained import TrainedModel, model_version

STEP = 7919
GENRES = ("Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi")


def synthetic_model(movies=100, users=50, ratings_per_user=10, seed=0, **params):
    """A TrainedModel of ``movies`` (ids 1..movies) and ``users`` (ids 1..users), ranks of ``ModelParams(**params)``.

    Factors are random, so its lists mean nothing; its shapes, ids and arrays are those a
    training gives (every movie has factors and ratings). ``ratings_per_user`` must not
    exceed ``movies``.
    """
    rng = np.random.default_rng(seed)
    params = ModelParams(**params)
    movie_ids = np.arange(1, movies + 1, dtype=np.int64)
    catalog = MovieTable(
        movie_ids, [f"Movie {i} (2000)" for i in movie_ids],
        [(GENRES[i % len(GENRES)], GENRES[(i * 7) % len(GENRES)]) for i in range(movies)],
        rng.integers(1, 1000, movies), 2.5 + 2 * rng.random(movies), 2.5 + 2 * rng.random(movies),
        rng.integers(0, 10**9, movies),
    )
    # Distinct rows per user (7919 is prime): a random start, stepping through the catalog.
    starts = rng.integers(0, movies, (users, 1))
    rated = np.sort((starts + STEP * np.arange(ratings_per_user)) % movies, axis=1)
    trained_at = datetime.now(timezone.utc)
    return TrainedModel(
        model_version(trained_at), trained_at, params.as_dict(), catalog,
        factors(rng, movies, params.rank), np.ones(movies, bool), np.arange(1, users + 1, dtype=np.int64),
        factors(rng, users, params.rank), np.arange(0, users * ratings_per_user + 1, ratings_per_user),
        rated.ravel().astype(np.int64), (rng.integers(1, 11, users * ratings_per_user) / 2).astype(np.float32),
        (0.5, 5.0), implicit_prefs=params.implicit_prefs, score_offset=3.5, user_bias=np.zeros(users, np.float32), item_bias=np.zeros(movies, np.float32),
        rank_item_factors=factors(rng, movies, params.ranking_rank),
        rank_user_factors=factors(rng, users, params.ranking_rank),
    )


def factors(rng, count, rank):
    return rng.normal(0.0, 0.3, (count, rank)).astype(np.float32)
