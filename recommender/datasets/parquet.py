"""Reading the Parquet dataset layout that ``etl.py`` writes.

::

    DIR/manifest.json          which version is current, its kind, counts, malformed rows
    DIR/v000003/ratings/       Parquet partitioned by year=, month= (userId, movieId, rating, timestamp)
    DIR/v000003/movies/        Parquet (movieId, title, genres, year, externalId)

A version folder is never changed once the manifest names it, so the manifest is the
dataset's one switch: a reader reads the manifest once and then only that version.
"""

import hashlib
import json
import logging
import time

from pyspark.sql import functions as F

from recommender.datasets import hadoop_fs
from recommender.datasets.movielens import Dataset, join_path, latest_rating_per_pair, logged_ratings_frame, resolve_path

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
RATINGS_DIR = "ratings"
MOVIES_DIR = "movies"
MANIFEST_FORMAT = 1


def read_manifest(spark, directory):
    """The manifest of the Parquet dataset at ``directory`` as a dict."""
    return json.loads(hadoop_fs.read_text(spark, join_path(resolve_path(directory), MANIFEST)))


def version_path(directory, manifest, part):
    """Path of ``part`` (``ratings`` or ``movies``) of the version ``manifest`` names."""
    return join_path(join_path(resolve_path(directory), manifest["version"]), part)


def is_parquet_dataset(spark, directory):
    return hadoop_fs.exists(spark, join_path(resolve_path(directory), MANIFEST))


def load_parquet(spark, directory, logged_ratings=None):
    """Load the current version of the Parquet dataset at ``directory``.

    Parameters
    ----------
    spark : SparkSession
    directory : str
        Any path Spark reads.
    logged_ratings : pyarrow.Table, optional
        Ratings accepted since (``ratings_log`` columns), applied on top: the newest wins.

    Returns
    -------
    Dataset
        ``implicit`` as the manifest says (purchase counts, not ratings).
    """
    started = time.perf_counter()
    manifest = read_manifest(spark, directory)
    movies = spark.read.parquet(version_path(directory, manifest, MOVIES_DIR)).select(
        "movieId", "title", F.coalesce("genres", F.lit("")).alias("genres")
    )
    ratings = spark.read.parquet(version_path(directory, manifest, RATINGS_DIR)).select(
        "userId", "movieId", "rating", "timestamp"
    )
    if logged_ratings is not None and logged_ratings.num_rows:
        # The files already hold one rating per pair, of catalog movies; only logged ones need both steps.
        combined = ratings.withColumn("_seq", F.lit(0).cast("long")).unionByName(
            logged_ratings_frame(spark, logged_ratings)
        )
        in_catalog = combined.join(F.broadcast(movies.select("movieId")), "movieId", "left_semi")
        ratings = latest_rating_per_pair(in_catalog)
    ratings = ratings.coalesce(spark.sparkContext.defaultParallelism)
    log.info("Parquet dataset %s (%s) opened in %.1fs", directory, manifest["version"], time.perf_counter() - started)
    return Dataset(ratings=ratings, movies=movies, implicit=bool(manifest.get("implicit", False)))


def parquet_fingerprint(spark, directory):
    """A digest of the current version's name and when it was written: versions never change."""
    manifest = read_manifest(spark, directory)
    identity = f"{resolve_path(directory)}|{manifest['version']}|{manifest.get('written_at', '')}"
    return hashlib.sha256(identity.encode()).hexdigest()[:16]
