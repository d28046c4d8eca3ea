"""Batch top-N lists are exactly the engine's, for every user and for a users file, with filters."""

import csv
import glob

import pytest
import pyarrow.parquet as pq

from recommender.model.filters import Filters
from recommender.offline.batch import BatchError, export, load_model
from recommender.storage.model_store import ModelStore


@pytest.fixture(scope="module")
def saved(tiny_model, tmp_path_factory):
    directory = tmp_path_factory.mktemp("state") / "models"
    folder = ModelStore(directory).save(tiny_model)
    return directory, folder


def read_csv_lists(output):
    lists = {}
    for part in sorted(glob.glob(str(output / "part-*.csv"))):
        with open(part, encoding="utf-8") as lines:
            reader = csv.reader(lines)
            assert next(reader) == ["userId", "rank", "movieId", "title", "score", "predictedRating"]
            for user, rank, movie, title, score, predicted in reader:
                lists.setdefault(int(user), []).append((int(rank), int(movie), title, float(predicted)))
    return lists


def engine_list(engine, user, count, min_ratings, filters):
    items = engine.recommend(user, count, min_ratings, filters).items
    return [(rank, p.movie.movie_id, p.movie.title, p.rating) for rank, p in enumerate(items, 1)]


def assert_same(lists, engine, users, count, min_ratings, filters):
    for user in users:
        expected = engine_list(engine, user, count, min_ratings, filters)
        assert [row[:3] for row in lists.get(user, [])] == [row[:3] for row in expected], user
        assert [row[3] for row in lists.get(user, [])] == pytest.approx([row[3] for row in expected])


def test_every_users_list_with_filters_is_the_engines(spark, saved, tiny_engine, tmp_path):
    models, _ = saved
    filters = Filters(genres=("Romance", "Comedy"), exclude=(8,), exclude_popular=1, new=1)
    model = load_model(str(models))
    summary = export(spark, model, str(tmp_path / "top"), 4, 0, filters)
    lists = read_csv_lists(tmp_path / "top")
    # a romance fan has rated nearly all of romance: the filters can leave it nothing, as in the service
    assert set(lists) <= set(range(1, 21)) and len(lists) >= 15 and summary["users"] == 20
    assert summary["rows"] == sum(len(rows) for rows in lists.values())
    assert_same(lists, tiny_engine, range(1, 21), 4, 0, filters)


def test_a_users_file_and_a_version_folder_as_parquet(spark, saved, tiny_engine, tmp_path):
    _, folder = saved
    users = tmp_path / "users.txt"
    users.write_text("userId\n3\n12\n\n5000\n", encoding="utf-8")
    export(spark, load_model(folder), str(tmp_path / "top"), 3, 0, Filters(include=(4, 5, 6, 7, 11)),
           str(users), "parquet")
    table = pq.read_table(str(tmp_path / "top")).to_pylist()
    lists = {}
    for row in sorted(table, key=lambda row: (row["userId"], row["rank"])):
        lists.setdefault(row["userId"], []).append((row["rank"], row["movieId"], row["title"], row["predictedRating"]))
    assert sorted(lists) == [3, 12, 5000]  # 5000 is unknown: the cold-start list, as the service serves it
    assert_same(lists, tiny_engine, [3, 12, 5000], 3, 0, Filters(include=(4, 5, 6, 7, 11)))


def test_bad_inputs_fail_with_one_clear_error(spark, saved, tiny_model, tmp_path):
    models, _ = saved
    with pytest.raises(BatchError, match="holds no saved model"):
        load_model(str(tmp_path))
    users = tmp_path / "users.txt"
    users.write_text("1\nx7\n", encoding="utf-8")
    with pytest.raises(BatchError, match="'x7' is not a user id"):
        export(spark, tiny_model, str(tmp_path / "out"), users_file=str(users))
    (tmp_path / "there").mkdir()
    with pytest.raises(BatchError, match="already exists"):
        export(spark, tiny_model, str(tmp_path / "there"))
