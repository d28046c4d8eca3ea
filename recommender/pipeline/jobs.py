"""The ETL jobs ``etl.py`` runs: parse an input, upsert it into a Parquet dataset, return the manifest."""

import logging

from recommender.datasets import hadoop_fs
from recommender.datasets.movielens import logged_ratings_frame, read_ratings, resolve_path
from recommender.datasets.postgres_store import PostgresRatingsStore
from recommender.pipeline import netflix, purchases
from recommender.pipeline.movielens_import import read_movielens
from recommender.pipeline.parquet_dataset import Counted, WriteOptions, current_version, write_dataset

log = logging.getLogger(__name__)


class InputNotFound(ValueError):
    """An input path does not exist."""


def check_inputs(spark, *paths):
    for path in paths:
        if not hadoop_fs.exists(spark, resolve_path(path)):
            raise InputNotFound(f"input {path} does not exist")


def netflix_job(spark, inputs, titles, output, options=WriteOptions(), titles_encoding=netflix.TITLES_ENCODING):
    """Netflix Prize ratings files and their titles file into the dataset at ``output``."""
    check_inputs(spark, *inputs, titles)
    counted = Counted()
    log.info("stage: reading %d Netflix-format files and titles %s", len(inputs), titles)
    movies = netflix.read_titles(spark, resolve_path(titles), counted, titles_encoding)
    ratings = netflix.read_ratings(spark, [resolve_path(path) for path in inputs], counted)
    return write_dataset(spark, output, ratings, movies, counted, kind="netflix", options=options)


def movielens_job(spark, directory, output, options=WriteOptions()):
    """A MovieLens CSV directory into the dataset at ``output``."""
    check_inputs(spark, directory)
    counted = Counted()
    log.info("stage: reading MovieLens directory %s", directory)
    ratings, movies = read_movielens(spark, directory, counted)
    return write_dataset(spark, output, ratings, movies, counted, kind="movielens", options=options)


def purchases_job(spark, path, output, value="count", since=None, options=WriteOptions()):
    """Online Retail-format purchases into the (implicit) dataset at ``output``."""
    check_inputs(spark, path)
    counted = Counted()
    log.info("stage: reading purchases %s (value: %s%s)", path, value, f", since {since}" if since else "")
    rows = purchases.read_purchases(spark, resolve_path(path), counted, since).cache()
    try:
        _, _, existing_movies = current_version(spark, output)
        catalog = purchases.item_ids(spark, rows, existing_movies).cache()
        ratings = purchases.purchase_values(rows, catalog, value)
        return write_dataset(spark, output, ratings, catalog, counted, kind="purchases", implicit=True, options=options)
    finally:
        rows.unpersist()


def merge_job(spark, path, output, options=WriteOptions()):
    """Ratings of a CSV in the dataset's columns (e.g. the service's ratings log) upserted into ``output``."""
    check_inputs(spark, path)
    counted = Counted()
    log.info("stage: reading ratings %s to merge into %s", path, output)
    ratings = read_ratings(spark, resolve_path(path), counted)
    return write_dataset(spark, output, ratings, None, counted, kind="merge", options=options)


def merge_store_job(spark, url, output, options=WriteOptions()):
    """Every rating of a PostgreSQL ratings store (``server.py --ratings-store``) upserted into ``output``."""
    store = PostgresRatingsStore(url)
    log.info("stage: reading the ratings store %s to merge into %s", store, output)
    logged = store.read()
    log.info("%d ratings read from the store", logged.num_rows)
    ratings = logged_ratings_frame(spark, logged).drop("_seq")
    return write_dataset(spark, output, ratings, None, Counted(), kind="merge", options=options)
