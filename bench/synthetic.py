"""Synthetic MovieLens-shaped datasets (ratings.csv, movies.csv) of any size.

    python bench/synthetic.py DIR --ratings 1000000

The shape follows MovieLens: Zipf-like movie popularity, heavy-tailed (log-normal) user
activity, at most one rating per (user, movie), ratings in half stars from 0.5 to 5 drawn
from a low-rank signal with user and movie biases plus noise, a header row, and a
movies.csv whose titles need RFC 4180 quoting (commas and doubled quotes). Generation is
vectorized NumPy and deterministic for a given seed: 20M ratings take about a minute.
"""

import argparse
import csv
import logging
import os
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

log = logging.getLogger("synthetic")

HALF_STARS = np.arange(1, 11) / 2  # 0.5 .. 5.0
GENRES = ["Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Drama", "Fantasy",
          "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]
CHUNK = 2_000_000


def dimensions(ratings):
    """Users and movies for ``ratings`` ratings, close to MovieLens' proportions.

    ml-latest-small has 100k ratings of 9.7k movies by 610 users, ml-20m 20M of 27k by
    138k; here users grow linearly (about 130 ratings each) and movies as ratings^0.4.

    Parameters
    ----------
    ratings : int

    Returns
    -------
    tuple of int
        ``(users, movies)``.
    """
    users = max(50, ratings // 130)
    movies = max(100, min(int(30 * ratings ** 0.4), ratings // 10))
    return users, movies


def sample_pairs(rng, ratings, users, movies):
    """``ratings`` distinct (user, movie) pairs, users by activity and movies by popularity."""
    activity = rng.lognormal(mean=0.0, sigma=1.2, size=users)  # heavy-tailed ratings per user
    popularity = 1.0 / np.arange(1, movies + 1) ** 0.9  # Zipf-like
    rng.shuffle(popularity)  # popular movies are spread over the id range
    activity, popularity = activity / activity.sum(), popularity / popularity.sum()
    keys = np.empty(0, np.int64)
    while len(keys) < ratings:
        wanted = int((ratings - len(keys)) * 1.3) + 1000
        drawn = rng.choice(users, wanted, p=activity) * np.int64(movies) + rng.choice(movies, wanted, p=popularity)
        keys = np.unique(np.concatenate([keys, drawn]))
        if len(keys) > 0.9 * users * movies:
            raise ValueError(f"{ratings} ratings do not fit {users} users x {movies} movies")
    keys = rng.permutation(keys)[:ratings]
    keys.sort()  # by user, then movie, as MovieLens files are
    return keys // movies, keys % movies


def rating_labels(rng, model, user, movie):
    """Indexes into ``HALF_STARS`` of the ratings of (user, movie) pairs under ``model``."""
    user_bias, movie_bias, user_factors, movie_factors = model
    signal = 3.5 + user_bias[user] + movie_bias[movie]
    signal += np.einsum("ij,ij->i", user_factors[user], movie_factors[movie])
    stars = signal + rng.normal(0.0, 0.5, len(user))
    return (np.clip(np.rint(stars * 2), 1, 10) - 1).astype(np.int8)


def low_rank_model(rng, users, movies, rank=5):
    """User and movie biases and factors whose dot products spread ratings over ~1 star."""
    return (
        rng.normal(0.0, 0.35, users),
        rng.normal(0.0, 0.45, movies),
        rng.normal(0.0, 0.45, (users, rank)),
        rng.normal(0.0, 0.45, (movies, rank)),
    )


def write_ratings(path, rng, model, user, movie):
    """Write ratings.csv (``userId,movieId,rating,timestamp``) in chunks."""
    labels = pa.array([f"{value:.1f}" for value in HALF_STARS])
    options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
    with open(path, "wb") as out:
        out.write(b"userId,movieId,rating,timestamp\n")
        for start in range(0, len(user), CHUNK):
            part = slice(start, start + CHUNK)
            stars = rating_labels(rng, model, user[part], movie[part])
            table = pa.table({
                "userId": pa.array(user[part] + 1, pa.int32()),
                "movieId": pa.array(movie[part] + 1, pa.int32()),
                "rating": pa.DictionaryArray.from_arrays(pa.array(stars), labels),
                "timestamp": pa.array(rng.integers(8.2e8, 1.7e9, len(stars)), pa.int64()),
            })
            pa_csv.write_csv(table, out, options)


def movie_title(rng, movie_id):
    year = int(rng.integers(1920, 2024))
    kind = movie_id % 5
    if kind == 0:
        return f"Movie {movie_id}, The ({year})"
    if kind == 1:
        return f'Say "Movie {movie_id}" ({year})'
    return f"Movie {movie_id} ({year})"


def write_movies(path, rng, movies):
    """Write movies.csv (``movieId,title,genres``); titles with commas and quotes are quoted."""
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["movieId", "title", "genres"])
        for movie_id in range(1, movies + 1):
            genres = rng.choice(GENRES, size=int(rng.integers(1, 4)), replace=False)
            writer.writerow([movie_id, movie_title(rng, movie_id), "|".join(genres)])


def generate(directory, ratings, seed=0):
    """Write a MovieLens-format dataset of ``ratings`` ratings into ``directory``.

    Parameters
    ----------
    directory : str
        Created if missing; ``ratings.csv`` and ``movies.csv`` are overwritten.
    ratings : int
        Number of ratings (distinct user-movie pairs).
    seed : int
        Seed of every random draw.

    Returns
    -------
    dict
        ``ratings``, ``users``, ``movies`` (the catalog size) and ``bytes`` of ratings.csv.
    """
    started = time.perf_counter()
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(seed)
    users, movies = dimensions(ratings)
    user, movie = sample_pairs(rng, ratings, users, movies)
    model = low_rank_model(rng, users, movies)
    ratings_path = os.path.join(directory, "ratings.csv")
    write_ratings(ratings_path, rng, model, user, movie)
    write_movies(os.path.join(directory, "movies.csv"), rng, movies)
    size = os.path.getsize(ratings_path)
    log.info("%d ratings by %d users of %d movies in %s (%.0f MB, %.1fs)",
             ratings, users, movies, directory, size / 1e6, time.perf_counter() - started)
    return {"ratings": ratings, "users": users, "movies": movies, "bytes": size}


def ensure(directory, ratings, seed=0):
    """The dataset at ``directory``, generated unless a complete one of that size is there.

    A marker file written last records the size and seed, so an interrupted run is redone.
    """
    marker = os.path.join(directory, ".complete")
    expected = f"{ratings} {seed}"
    if os.path.exists(marker):
        with open(marker, encoding="ascii") as existing:
            if existing.read() == expected:
                return directory
    generate(directory, ratings, seed)
    with open(marker, "w", encoding="ascii") as done:
        done.write(expected)
    return directory


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory")
    parser.add_argument("--ratings", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    generate(args.directory, args.ratings, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
