"""Reading a MovieLens-format dataset (ratings.csv, movies.csv) with Spark."""

import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlparse

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from recommender.limits import MAX_ID

log = logging.getLogger(__name__)

CORRUPT_COLUMN = "_corrupt_record"
# The ratings files' columns, also those of the ratings log.
RATINGS_COLUMNS = {"userId": "INT", "movieId": "INT", "rating": "DOUBLE", "timestamp": "LONG"}
RATINGS_SCHEMA = ", ".join(f"{name} {kind}" for name, kind in RATINGS_COLUMNS.items()) + f", {CORRUPT_COLUMN} STRING"
MOVIES_SCHEMA = f"movieId INT, title STRING, genres STRING, {CORRUPT_COLUMN} STRING"
LOGGED_FIRST = 2**62  # orders a logged rating after every rating of the files


@dataclass(frozen=True)
class Dataset:
    """Clean ratings and movies as Spark DataFrames.

    ``ratings`` has ``userId, movieId, rating, timestamp`` with one row per (user, movie),
    only for movies in ``movies``; ``movies`` has ``movieId, title, genres``. ``implicit``:
    the values are counts of purchases or views, not ratings (MovieLens: False).
    """

    ratings: DataFrame
    movies: DataFrame
    implicit: bool = False


def resolve_path(path):
    """Return ``path`` as Spark should see it: local paths made absolute.

    Executors of a cluster do not share the driver's working directory, so a relative
    local path must not reach them.
    """
    if urlparse(path).scheme:
        return path
    return os.path.abspath(path)


def join_path(directory, name):
    """Join a file name onto a directory given as a local path or a URI."""
    return directory.rstrip("/") + "/" + name


def read_csv(spark: SparkSession, path, schema, valid, counted=None):
    """Read a CSV file with a header row, keeping only rows for which ``valid`` holds.

    Rows Spark cannot parse against ``schema`` and rows failing ``valid`` are dropped.
    They are counted while the first Spark job that reads the file runs (no pass of
    its own), and logged when it ends; or, with ``counted`` (a
    ``recommender.pipeline.parquet_dataset.Counted``), observed there.
    """
    raw = spark.read.csv(
        path,
        schema=schema,
        header=True,
        mode="PERMISSIVE",
        columnNameOfCorruptRecord=CORRUPT_COLUMN,
        quote='"',
        escape='"',
        encoding="UTF-8",
    )
    is_valid = F.col(CORRUPT_COLUMN).isNull() & F.coalesce(valid, F.lit(False))
    if counted is not None:
        observed = counted.observe(raw, path, **{f"unreadable or invalid row of {path.rsplit('/', 1)[-1]}": ~is_valid})
        return observed.filter(is_valid).drop(CORRUPT_COLUMN)
    counts = Observation(f"rows of {path}")
    observed = raw.observe(counts, F.count(F.lit(1)).alias("rows"), F.count(F.when(is_valid, 1)).alias("kept"))
    threading.Thread(target=log_row_counts, args=(path, counts), name="csv-row-counts", daemon=True).start()
    return observed.filter(is_valid).drop(CORRUPT_COLUMN)


def log_row_counts(path, counts):
    """Log how many rows of ``path`` were read and dropped, once a job has read it."""
    try:
        result = counts.get  # blocks until the first job reading the file ends
    except Exception as error:  # Spark stopped before any job read the file
        log.debug("%s: rows not counted: %s", path, error)
        return
    dropped = result["rows"] - result["kept"]
    if dropped:
        log.warning("%s: dropped %d malformed rows of %d", path, dropped, result["rows"])
    else:
        log.info("%s: %d rows", path, result["rows"])


def valid_id(column):
    return F.col(column).between(0, MAX_ID)


def read_movies(spark, path, counted=None):
    valid = valid_id("movieId") & F.col("title").isNotNull()
    movies = read_csv(spark, path, MOVIES_SCHEMA, valid, counted).fillna({"genres": ""})
    return movies.dropDuplicates(["movieId"])


def read_ratings(spark, path, counted=None):
    valid = (
        valid_id("userId")
        & valid_id("movieId")
        & F.col("rating").isNotNull()
        & ~F.isnan("rating")
        & F.col("timestamp").isNotNull()
    )
    return read_csv(spark, path, RATINGS_SCHEMA, valid, counted)


def latest_rating_per_pair(ratings):
    """Keep one rating per (user, movie): a re-rating replaces the older one.

    Logged ratings (``_seq`` > 0, in the order accepted) win over the base dataset's
    (``_seq`` 0), which are ordered by their timestamps.
    """
    # One long as the order, not a struct of (_seq, timestamp): with a struct Spark sorts
    # every rating (a sort aggregate) instead of hashing them.
    newest = F.when(F.col("_seq") > 0, F.lit(LOGGED_FIRST) + F.col("_seq")).otherwise(
        F.least(F.col("timestamp"), F.lit(LOGGED_FIRST - 1))
    )
    return ratings.groupBy("userId", "movieId").agg(
        F.max_by("rating", newest).alias("rating"),
        F.max("timestamp").alias("timestamp"),
    )


def logged_ratings_frame(spark, logged):
    """A Spark DataFrame of logged ratings (a pyarrow Table from the driver), numbered from 1.

    The log lives on the driver's disk; shipping it from the driver means executors on
    other machines never need to read it.
    """
    sequence = pa.array(np.arange(1, logged.num_rows + 1, dtype=np.int64))
    return spark.createDataFrame(logged.append_column("_seq", sequence))


def load_ratings(spark: SparkSession, path, movies, logged_ratings=None):
    """Ratings of a ``ratings.csv``-format file with logged ratings on top, restricted to
    ``movies``, one per (user, movie)."""
    ratings = read_ratings(spark, path).withColumn("_seq", F.lit(0).cast("long"))
    if logged_ratings is not None and logged_ratings.num_rows:
        ratings = ratings.unionByName(logged_ratings_frame(spark, logged_ratings))
    in_catalog = ratings.join(F.broadcast(movies.select("movieId")), "movieId", "left_semi")
    # One partition per core: the shuffle's default of 200 tiny tasks triples training time.
    return latest_rating_per_pair(in_catalog).coalesce(spark.sparkContext.defaultParallelism)


def load_movielens(spark: SparkSession, directory, logged_ratings=None) -> Dataset:
    """Load ``ratings.csv`` and ``movies.csv`` from a MovieLens ml-latest style directory.

    Parameters
    ----------
    spark : SparkSession
    directory : str
        Any path Spark reads: local, ``hdfs://``, ``s3a://``.
    logged_ratings : pyarrow.Table, optional
        Ratings accepted since (``ratings_log`` columns), applied on top of the files.

    Returns
    -------
    Dataset
        Ratings restricted to movies in the catalog, one per (user, movie).
    """
    started = time.perf_counter()
    directory = resolve_path(directory)
    movies = read_movies(spark, join_path(directory, "movies.csv"))
    ratings = load_ratings(spark, join_path(directory, "ratings.csv"), movies, logged_ratings)
    log.info("dataset %s read in %.1fs", directory, time.perf_counter() - started)
    return Dataset(ratings=ratings, movies=movies)


def fingerprint(spark, directory):
    """A digest of the dataset files' paths, sizes and modification times.

    Asked of Hadoop's FileSystem, so it works for every path Spark reads.
    """
    directory = resolve_path(directory)
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    digest = hashlib.sha256()
    for name in ("ratings.csv", "movies.csv"):
        path = jvm.org.apache.hadoop.fs.Path(join_path(directory, name))
        status = path.getFileSystem(conf).getFileStatus(path)
        digest.update(f"{status.getPath().toString()}|{status.getLen()}|{status.getModificationTime()}\n".encode())
    return digest.hexdigest()[:16]
