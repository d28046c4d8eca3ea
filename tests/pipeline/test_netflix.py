import json

import pytest

from recommender.datasets.layouts import load_dataset
from recommender.pipeline.jobs import netflix_job
from recommender.pipeline.netflix import read_ratings, tagged_lines
from recommender.pipeline.parquet_dataset import Counted
from tests.pipeline.fixtures import (
    EXPECTED_NETFLIX, NETFLIX_RATINGS, NETFLIX_RATINGS_PART_2, NETFLIX_TITLES, tiny_splits,
)


def write_netflix(directory):
    (directory / "part1.txt").write_text(NETFLIX_RATINGS)
    (directory / "part2.txt").write_text(NETFLIX_RATINGS_PART_2)
    (directory / "titles.csv").write_bytes(NETFLIX_TITLES)
    return [str(directory / "part1.txt"), str(directory / "part2.txt")], str(directory / "titles.csv")


def rating_triples(frame):
    return {(row.userId, row.movieId, row.rating) for row in frame.collect()}


def test_blocks_straddling_tiny_splits_keep_every_row_with_its_movie(spark, tmp_path):
    inputs, _ = write_netflix(tmp_path)
    counted = Counted()
    with tiny_splits(spark, 32):
        splits = tagged_lines(spark, inputs[:1]).select("split").distinct().count()
        rows = read_ratings(spark, inputs, counted).collect()
    assert splits >= 5  # movie 1's block runs over several splits
    assert {(row.userId, row.movieId, row.rating) for row in rows} == EXPECTED_NETFLIX
    assert len(rows) == len(EXPECTED_NETFLIX)
    assert counted.results() == {
        "not a MovieID: header nor a CustomerID,Rating,Date line": 1, "rating not 1 to 5": 1,
    }


@pytest.mark.parametrize("split_bytes", [7, 19, 45])
def test_crlf_lines_and_a_rating_before_any_header_in_splits_of_any_size(spark, tmp_path, split_bytes):
    # Split sizes that cut headers, rating lines and CRLF pairs in different places.
    text = "5,3,2005-01-01\n" + NETFLIX_RATINGS + NETFLIX_RATINGS_PART_2
    (tmp_path / "crlf.txt").write_bytes(text.replace("\n", "\r\n").encode("ascii"))
    counted = Counted()
    with tiny_splits(spark, split_bytes):
        rows = read_ratings(spark, [str(tmp_path / "crlf.txt")], counted).collect()
    assert sorted((row.userId, row.movieId, row.rating) for row in rows) == sorted(EXPECTED_NETFLIX)
    assert counted.results() == {
        "not a MovieID: header nor a CustomerID,Rating,Date line": 1, "rating not 1 to 5": 1,
        "rating line before any MovieID: header": 1,
    }


def test_dates_become_midnight_utc(spark, tmp_path):
    inputs, _ = write_netflix(tmp_path)
    rows = read_ratings(spark, inputs[1:], Counted()).collect()
    assert {row.timestamp for row in rows} == {1073001600, 1046649600}  # 2004-01-02, 2003-03-03 UTC


def test_netflix_job_writes_titles_with_commas_null_year_and_latin1(spark, tmp_path):
    inputs, titles = write_netflix(tmp_path)
    output = tmp_path / "dataset"
    with tiny_splits(spark):
        manifest = netflix_job(spark, inputs, titles, str(output))
    movies = {row.movieId: row for row in spark.read.parquet(str(output / manifest["version"] / "movies")).collect()}
    assert movies[2].title == "Isle of Man TT 2004, Review, Part 1" and movies[2].year is None
    assert movies[3].title == "Café Society" and movies[3].year == 1997
    assert manifest["kind"] == "netflix" and manifest["implicit"] is False
    assert manifest["counts"] == {"ratings": 10, "users": 7, "movies": 3}
    assert manifest["last_run"]["malformed"] == {
        "not a MovieID: header nor a CustomerID,Rating,Date line": 1, "rating not 1 to 5": 1,
    }
    assert json.loads((output / "manifest.json").read_text()) == manifest
    assert rating_triples(load_dataset(spark, str(output)).ratings) == EXPECTED_NETFLIX
