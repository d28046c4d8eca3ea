"""One way in for every command: tell a dataset's layout from its directory and load it.

Two layouts: MovieLens CSV (``ratings.csv``, ``movies.csv``) and the Parquet layout of
``etl.py`` (``manifest.json`` naming a version folder). Asked of Hadoop's FileSystem, so
any path Spark reads works.
"""

from recommender.datasets import hadoop_fs
from recommender.datasets.movielens import fingerprint, join_path, load_movielens, resolve_path
from recommender.datasets.parquet import MANIFEST, is_parquet_dataset, load_parquet, parquet_fingerprint

MOVIELENS_FILES = ("ratings.csv", "movies.csv")


class DatasetNotFound(ValueError):
    """The path is missing or holds neither layout; the message names what was expected."""


def layout_of(spark, path):
    """``"parquet"`` or ``"movielens"``.

    Raises
    ------
    DatasetNotFound
        When ``path`` does not exist or holds neither layout's files.
    """
    directory = resolve_path(path)
    if not hadoop_fs.exists(spark, directory):
        raise DatasetNotFound(f"dataset {path} does not exist")
    if is_parquet_dataset(spark, directory):
        return "parquet"
    if all(hadoop_fs.exists(spark, join_path(directory, name)) for name in MOVIELENS_FILES):
        return "movielens"
    raise DatasetNotFound(
        f"dataset {path} has neither layout: expected {' and '.join(MOVIELENS_FILES)} (MovieLens CSV) "
        f"or {MANIFEST} with its ratings/ and movies/ Parquet folders (written by etl.py)"
    )


def load_dataset(spark, path, logged_ratings=None):
    """Load the dataset at ``path`` in whichever layout it has.

    Parameters
    ----------
    spark : SparkSession
    path : str
        A MovieLens CSV directory or an ``etl.py`` Parquet dataset; any path Spark reads.
    logged_ratings : pyarrow.Table, optional
        Ratings accepted since, applied on top (the newest rating per pair wins).

    Returns
    -------
    recommender.datasets.movielens.Dataset

    Raises
    ------
    DatasetNotFound
    """
    if layout_of(spark, path) == "parquet":
        return load_parquet(spark, path, logged_ratings)
    return load_movielens(spark, path, logged_ratings)


def dataset_fingerprint(spark, path):
    """Identifies the dataset's current contents, so a saved model can be matched to them.

    Raises
    ------
    DatasetNotFound
    """
    if layout_of(spark, path) == "parquet":
        return parquet_fingerprint(spark, path)
    return fingerprint(spark, path)
