"""Upserts, reruns and a run that dies midway, through the MovieLens and merge jobs."""

import pytest

from recommender.datasets.layouts import load_dataset
from recommender.pipeline import parquet_dataset
from recommender.pipeline.jobs import merge_job, movielens_job

MOVIES = "movieId,title,genres\n1,\"Rock, The (1996)\",Action\n2,Heat (1995),Action|Crime\n"
RATINGS = "userId,movieId,rating,timestamp\n1,1,4.0,100\n1,2,3.0,100\n2,1,5.0,200\n2,1,2.0,150\n3,9,4.0,100\nx,1,2,3\n"


def movielens_dir(directory):
    directory.mkdir()
    (directory / "movies.csv").write_text(MOVIES)
    (directory / "ratings.csv").write_text(RATINGS)
    return str(directory)


def ratings_of(spark, output):
    return sorted(tuple(row) for row in load_dataset(spark, str(output)).ratings.collect())


def test_movielens_import_dedups_and_counts_malformed_and_unknown_movies(spark, tmp_path):
    manifest = movielens_job(spark, movielens_dir(tmp_path / "ml"), str(tmp_path / "out"))
    assert ratings_of(spark, tmp_path / "out") == [(1, 1, 4.0, 100), (1, 2, 3.0, 100), (2, 1, 5.0, 200)]
    assert manifest["counts"] == {"ratings": 3, "users": 2, "movies": 2}
    assert manifest["last_run"]["malformed"] == {
        "unreadable or invalid row of ratings.csv": 1, "movie not in the catalog": 1,
    }
    movies = {row.movieId: row for row in load_dataset(spark, str(tmp_path / "out")).movies.collect()}
    assert movies[1].title == "Rock, The (1996)" and movies[1].genres == "Action"


def test_rerun_on_the_same_input_changes_nothing(spark, tmp_path):
    source, output = movielens_dir(tmp_path / "ml"), str(tmp_path / "out")
    first = movielens_job(spark, source, output)
    before = ratings_of(spark, output)
    second = movielens_job(spark, source, output)
    assert ratings_of(spark, output) == before
    assert second["counts"] == first["counts"] and second["version"] != first["version"]


def test_merge_upserts_the_newest_rating_per_pair(spark, tmp_path):
    output = str(tmp_path / "out")
    movielens_job(spark, movielens_dir(tmp_path / "ml"), output)
    log = tmp_path / "ratings-log.csv"
    log.write_text("userId,movieId,rating,timestamp\n1,1,1.5,500\n2,1,3.0,50\n7,2,4.5,600\n")
    manifest = merge_job(spark, str(log), output)
    assert ratings_of(spark, output) == [
        (1, 1, 1.5, 500), (1, 2, 3.0, 100), (2, 1, 5.0, 200), (7, 2, 4.5, 600),
    ]
    assert manifest["kind"] == "movielens" and manifest["last_run"]["kind"] == "merge"


def test_merge_into_no_dataset_is_a_clear_error(spark, tmp_path):
    log = tmp_path / "ratings-log.csv"
    log.write_text("userId,movieId,rating,timestamp\n1,1,1.5,500\n")
    with pytest.raises(ValueError, match="no dataset to merge into"):
        merge_job(spark, str(log), str(tmp_path / "nothing"))


def test_a_run_dying_midway_leaves_the_previous_version_readable(spark, tmp_path, monkeypatch):
    source, output = movielens_dir(tmp_path / "ml"), tmp_path / "out"
    movielens_job(spark, source, str(output))
    before, manifest = ratings_of(spark, output), (output / "manifest.json").read_text()

    def die(*args, **kwargs):
        raise RuntimeError("killed while counting")

    monkeypatch.setattr(parquet_dataset, "build_manifest", die)  # ratings and movies written, no switch yet
    with pytest.raises(RuntimeError):
        movielens_job(spark, source, str(output))
    monkeypatch.undo()
    assert (output / "manifest.json").read_text() == manifest
    assert ratings_of(spark, output) == before
    assert movielens_job(spark, source, str(output))["number"] == 2  # the half-written folder is reused


def test_ratings_are_partitioned_by_year_and_month(spark, tmp_path):
    output = tmp_path / "out"
    manifest = movielens_job(spark, movielens_dir(tmp_path / "ml"), str(output))
    folders = sorted(path.name for path in (output / manifest["version"] / "ratings").glob("year=*"))
    assert folders == ["year=1970"]
    assert [path.name for path in (output / manifest["version"] / "ratings" / "year=1970").iterdir()
            if path.is_dir()] == ["month=1"]
