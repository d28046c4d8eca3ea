import pyarrow as pa
import pytest

from recommender.datasets.ratings_log import COLUMN_TYPES
from recommender.datasets.layouts import DatasetNotFound, dataset_fingerprint, layout_of, load_dataset
from recommender.pipeline.jobs import movielens_job
from recommender.pipeline.parquet_dataset import Counted, write_dataset


def logged_table(rows):
    columns = list(zip(*rows))
    return pa.table(dict(zip(COLUMN_TYPES, columns)), schema=pa.schema(list(COLUMN_TYPES.items())))


def test_movielens_directory_loads_as_before(spark, tiny_dataset_dir):
    dataset = load_dataset(spark, str(tiny_dataset_dir))
    assert layout_of(spark, str(tiny_dataset_dir)) == "movielens"
    assert dataset.implicit is False and dataset.ratings.count() > 0


def test_parquet_dataset_loads_the_same_ratings_and_movies(spark, tiny_dataset_dir, tmp_path):
    output = str(tmp_path / "parquet")
    movielens_job(spark, str(tiny_dataset_dir), output)
    parquet, csv = load_dataset(spark, output), load_dataset(spark, str(tiny_dataset_dir))
    assert layout_of(spark, output) == "parquet"
    assert sorted(map(tuple, parquet.ratings.collect())) == sorted(map(tuple, csv.ratings.collect()))
    assert sorted(map(tuple, parquet.movies.collect())) == sorted(map(tuple, csv.movies.collect()))


def test_logged_ratings_are_applied_on_top_of_parquet(spark, tiny_dataset_dir, tmp_path):
    output = str(tmp_path / "parquet")
    movielens_job(spark, str(tiny_dataset_dir), output)
    dataset = load_dataset(spark, output, logged_table([(1, 7, 0.5, 1), (1000, 13, 4.0, 2), (1000, 999, 4.0, 3)]))
    rows = {(row.userId, row.movieId): row.rating for row in dataset.ratings.collect()}
    assert rows[(1, 7)] == 0.5 and rows[(1000, 13)] == 4.0 and (1000, 999) not in rows


def test_fingerprint_changes_when_a_new_version_is_switched_in(spark, tiny_dataset_dir, tmp_path):
    output = str(tmp_path / "parquet")
    movielens_job(spark, str(tiny_dataset_dir), output)
    first = dataset_fingerprint(spark, output)
    assert dataset_fingerprint(spark, output) == first
    ratings = spark.createDataFrame([(1, 1, 5.0, 10**9)], "userId INT, movieId INT, rating DOUBLE, timestamp LONG")
    write_dataset(spark, output, ratings, None, Counted(), kind="merge")
    assert dataset_fingerprint(spark, output) != first


def test_missing_path_is_a_clear_error(spark, tmp_path):
    with pytest.raises(DatasetNotFound, match="does not exist"):
        load_dataset(spark, str(tmp_path / "nowhere"))


def test_directory_with_neither_layout_names_both_layouts_files(spark, tmp_path):
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n")
    with pytest.raises(DatasetNotFound, match=r"ratings\.csv and movies\.csv .*manifest\.json"):
        dataset_fingerprint(spark, str(tmp_path))
