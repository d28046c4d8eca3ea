"""A MovieLens CSV directory (``ratings.csv``, ``movies.csv``) as the Parquet layout's rows."""

from pyspark.sql import functions as F

from recommender.datasets.movielens import join_path, read_movies, read_ratings, resolve_path
from recommender.pipeline.parquet_dataset import Counted

TITLE_YEAR = r"\((\d{4})\)\s*$"


def read_movielens(spark, directory, counted: Counted):
    """``(ratings, movies)`` of a MovieLens directory; malformed rows counted in ``counted``."""
    directory = resolve_path(directory)
    movies = read_movies(spark, join_path(directory, "movies.csv"), counted).select(
        "movieId", "title", "genres",
        F.regexp_extract("title", TITLE_YEAR, 1).try_cast("int").alias("year"),
        F.lit(None).cast("string").alias("externalId"),
    )
    ratings = read_ratings(spark, join_path(directory, "ratings.csv"), counted)
    return ratings, movies
