import logging

import pyarrow as pa

from tests.support.tiny_data import tiny_ratings, write_tiny_dataset
from tests.support.waiting import wait_for
from recommender.datasets.movielens import join_path, load_movielens, resolve_path
from recommender.datasets.ratings_log import COLUMN_TYPES

BAD_RATING_LINES = """abc,1,4.0,5000
1,2
3,1,not-a-number,5000
1,999,4.0,5000
-4,1,4.0,5000
1,7,2.0,9000
1,7,3.5,8000
"""


def test_quoted_titles_with_commas_and_quotes_come_out_whole(spark, tiny_dataset_dir):
    movies = {r.movieId: r for r in load_movielens(spark, str(tiny_dataset_dir)).movies.collect()}
    assert movies[1].title == "Great Escape, The (1963)"
    assert movies[5].title == "Rock, The (1996)"
    assert movies[7].title == 'Say "Anything" (1989)'
    assert movies[9].title == "Amélie (2001)"
    assert movies[1].genres == "Action|Adventure"
    assert len(movies) == 13


def test_malformed_rows_are_dropped_and_counted(spark, tmp_path, caplog):
    directory = write_tiny_dataset(tmp_path / "bad", BAD_RATING_LINES)
    with caplog.at_level(logging.INFO, logger="dataset"):
        ratings = load_movielens(spark, str(directory)).ratings
        rows = ratings.collect()
    # Three malformed lines and a negative user id are dropped; the rating of movie 999
    # (not in the catalog) is dropped; user 1's two ratings of movie 7 collapse to the newest.
    # Counted in the job that read the file, and logged when it ended.
    wait_for(lambda: "dropped 4 malformed rows" in caplog.text, timeout=30)
    assert len(rows) == len(tiny_ratings()) + 1
    assert not [r for r in rows if r.movieId == 999]
    assert [r.rating for r in rows if (r.userId, r.movieId) == (1, 7)] == [2.0]


def test_relative_local_paths_are_made_absolute_for_executors(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert resolve_path("data/x") == str(tmp_path / "data" / "x")
    assert resolve_path("hdfs://namenode:8020/data/x") == "hdfs://namenode:8020/data/x"
    assert join_path("s3a://bucket/ml/", "ratings.csv") == "s3a://bucket/ml/ratings.csv"


def test_logged_ratings_win_over_the_files_and_the_later_over_the_earlier(spark, tmp_path):
    directory = write_tiny_dataset(tmp_path / "dup", "1,7,2.0,9000\n1,7,3.5,8000\n")
    logged = pa.table(
        {"userId": [1, 1, 2], "movieId": [8, 8, 7], "rating": [1.0, 4.5, 3.0], "timestamp": [1, 1, 1]},
        schema=pa.schema(list(COLUMN_TYPES.items())),
    )
    rows = load_movielens(spark, str(directory), logged).ratings.collect()
    rating = {(r.userId, r.movieId): r.rating for r in rows}
    assert rating[(1, 7)] == 2.0  # the files: the newer timestamp
    assert rating[(1, 8)] == 4.5  # the log: the later line, although the files' rating is newer
    assert rating[(2, 7)] == 3.0
    assert len(rows) == len({(u, m) for u, m, _ in tiny_ratings()} | {(1, 7), (1, 8), (2, 7)})
