"""Ratings of any file a user points an offline job at, read with Spark and brought to the driver.

A ratings CSV in the dataset's columns (``userId,movieId,rating,timestamp``, which is also
the service's ratings log), a MovieLens-format dataset directory (its ``ratings.csv``, or a
``ratings`` Parquet dataset in it), or a Parquet file or directory of Parquet files.
"""

import os

from pyspark.sql import functions as F

from recommender.datasets.checks import local_path
from recommender.datasets.movielens import join_path, read_ratings, resolve_path
from recommender.offline.heldout import RatingArrays


def ratings_frame(spark, path):
    """The ratings of ``path`` (see the module's docstring) as a Spark DataFrame.

    Raises
    ------
    FileNotFoundError
        When a local ``path`` does not exist.
    """
    path = resolve_path(path)
    local = local_path(path)
    if local is not None and not os.path.exists(local):
        raise FileNotFoundError(f"{path} not found")
    if local is not None and os.path.isdir(local):
        if os.path.exists(os.path.join(local, "ratings.csv")):
            return read_ratings(spark, join_path(path, "ratings.csv"))
        inner = next((n for n in ("ratings", "ratings.parquet") if os.path.isdir(os.path.join(local, n))), None)
        return spark.read.parquet(join_path(path, inner) if inner else path)
    if path.endswith(".parquet"):
        return spark.read.parquet(path)
    return read_ratings(spark, path)


def read_rating_arrays(spark, path):
    """RatingArrays of the ratings in ``path``, on the driver."""
    frame = ratings_frame(spark, path).select(
        F.col("userId").cast("long"), F.col("movieId").cast("long"), F.col("rating").cast("double")
    ).dropna()
    return RatingArrays.of_table(frame.toArrow())
