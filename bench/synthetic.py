"""Synthetic MovieLens-shaped datasets (ratings.csv, movies.csv) of any size, and the same
ratings in the Netflix Prize text format or as Online Retail purchase records.

    python bench/synthetic.py DIR --ratings 1000000
    python bench/synthetic.py DIR --ratings 5000000 --format netflix   # ratings.txt, movie_titles.csv
    python bench/synthetic.py DIR --ratings 1000000 --format retail    # online_retail.csv

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


NETFLIX_FIRST_DAY = np.datetime64("1999-11-11")
NETFLIX_DAYS = 2243  # to 2005-12-31


def movie_order_chunks(rng, ratings):
    """``(user, movie, label, offset)`` chunks of about ``CHUNK`` ratings in movie order.

    Pairs are drawn as for MovieLens, then visited movie by movie; only one chunk's
    strings are built at a time.
    """
    users, movies = dimensions(ratings)
    user, movie = sample_pairs(rng, ratings, users, movies)
    model = low_rank_model(rng, users, movies)
    order = np.argsort(movie, kind="stable")
    for start in range(0, ratings, CHUNK):
        part = order[start:start + CHUNK]
        yield user[part], movie[part], rating_labels(rng, model, user[part], movie[part])


def netflix_lines(rng, user, movie, labels, previous_movie):
    """Text of a movie-ordered chunk: a ``MovieID:`` line where the movie changes, then ``CustomerID,Rating,Date``."""
    days = (NETFLIX_FIRST_DAY + rng.integers(0, NETFLIX_DAYS, len(user))).astype("datetime64[D]")
    lines = np.char.add(np.char.add((user + 1).astype(str), ","), (labels // 2 + 1).astype(str))
    lines = np.char.add(np.char.add(lines, ","), np.datetime_as_string(days)).astype(object)
    starts = np.flatnonzero(np.diff(movie, prepend=previous_movie) != 0)
    headers = np.char.add((movie[starts] + 1).astype(str), ":").astype(object)
    return "\n".join(np.insert(lines, starts, headers).tolist()) + "\n"


def write_netflix(directory, ratings, seed=0):
    """``ratings.txt`` in the Netflix Prize block format and a Latin-1 ``movie_titles.csv``.

    Titles have commas, some a ``NULL`` year and some a non-ASCII letter.
    """
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(seed)
    previous = -1
    with open(os.path.join(directory, "ratings.txt"), "w", encoding="ascii") as out:
        for user, movie, labels in movie_order_chunks(rng, ratings):
            out.write(netflix_lines(rng, user, movie, labels, previous))
            previous = movie[-1]
    _, movies = dimensions(ratings)
    with open(os.path.join(directory, "movie_titles.csv"), "w", encoding="latin-1") as titles:
        for movie_id in range(1, movies + 1):
            year = "NULL" if movie_id % 50 == 0 else str(int(rng.integers(1920, 2006)))
            name = f"Movie {movie_id}, Part {movie_id % 3 + 1}" if movie_id % 4 == 0 else f"Caf\u00e9 {movie_id}"
            titles.write(f"{movie_id},{year},{name}\n")


def retail_rows(rng, user, movie, labels):
    """Online Retail columns for a chunk: a few cancellations, returns and rows without a customer."""
    count = len(user)
    minutes = rng.integers(0, 373 * 24 * 60, count)  # 2010-12-01 to 2011-12-09
    when = np.datetime64("2010-12-01T00:00") + minutes.astype("timedelta64[m]")
    dates = [f"{d.month}/{d.day}/{d.year} {d.hour}:{d.minute:02d}" for d in when.astype(object)]
    invoice = rng.integers(536365, 581587, count).astype(str)
    invoice = np.where(rng.random(count) < 0.02, np.char.add("C", invoice), invoice)
    quantity = np.where(rng.random(count) < 0.01, -1, labels // 2 + 1)
    customer = np.where(rng.random(count) < 0.2, "", (user + 12346).astype(str))
    code = (movie + 10002).astype(str)
    return [
        f'{i},{c},"ITEM {c}, BOXED",{q},{d},2.55,{u},United Kingdom'
        for i, c, q, d, u in zip(invoice.tolist(), code.tolist(), quantity.tolist(), dates, customer.tolist())
    ]


def write_retail(directory, ratings, seed=0):
    """``online_retail.csv``: one purchase record per sampled pair, in the public data's columns."""
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(seed)
    with open(os.path.join(directory, "online_retail.csv"), "w", encoding="utf-8") as out:
        out.write("InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n")
        for user, movie, labels in movie_order_chunks(rng, ratings):
            out.write("\n".join(retail_rows(rng, user, movie, labels)) + "\n")


FORMATS = {"movielens": generate, "netflix": write_netflix, "retail": write_retail}


def ensure(directory, ratings, seed=0, kind="movielens"):
    """The dataset at ``directory``, generated unless a complete one of that size is there.

    A marker file written last records the size and seed, so an interrupted run is redone.
    """
    marker = os.path.join(directory, ".complete")
    expected = f"{ratings} {seed}" if kind == "movielens" else f"{ratings} {seed} {kind}"
    if os.path.exists(marker):
        with open(marker, encoding="ascii") as existing:
            if existing.read() == expected:
                return directory
    FORMATS[kind](directory, ratings, seed)
    with open(marker, "w", encoding="ascii") as done:
        done.write(expected)
    return directory


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory")
    parser.add_argument("--ratings", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", choices=FORMATS, default="movielens", help="movielens (default), netflix or retail")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    FORMATS[args.format](args.directory, args.ratings, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
