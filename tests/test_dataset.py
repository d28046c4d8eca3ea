import logging

from conftest import tiny_ratings, write_tiny_dataset
from dataset import join_path, load_movielens, resolve_path

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
    assert "dropped 4 malformed rows" in caplog.text
    assert len(rows) == len(tiny_ratings()) + 1
    assert not [r for r in rows if r.movieId == 999]
    assert [r.rating for r in rows if (r.userId, r.movieId) == (1, 7)] == [2.0]


def test_relative_local_paths_are_made_absolute_for_executors(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert resolve_path("data/x") == str(tmp_path / "data" / "x")
    assert resolve_path("hdfs://namenode:8020/data/x") == "hdfs://namenode:8020/data/x"
    assert join_path("s3a://bucket/ml/", "ratings.csv") == "s3a://bucket/ml/ratings.csv"
