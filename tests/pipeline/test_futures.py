"""Holding back the future: the newest ratings sorted by time, and the dataset without them."""

import argparse
import csv
import random

import pytest

from recommender.datasets.movielens import load_movielens
from recommender.pipeline.futures import add_futures_arguments, instant, write_futures

DAY = 86_400
START = instant("2020-01-01")  # 1577836800
MOVIES = """movieId,title,genres
1,"Great Escape, The (1963)",Action|Adventure
2,"Say ""Anything"" (1989)",Romance
3,Amélie (2001),Romance|Comedy
4,Heat (1995),Action
"""


def write_dataset(directory, ratings):
    directory.mkdir()
    (directory / "movies.csv").write_text(MOVIES, encoding="utf-8")
    lines = ["userId,movieId,rating,timestamp", *(f"{u},{m},{r},{t}" for u, m, r, t in ratings)]
    (directory / "ratings.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def one_a_day(count=100, seed=3):
    """``count`` ratings one day apart (distinct users and times), in shuffled file order."""
    rows = [(user, 1 + user % 4, 0.5 + user % 10 / 2, START + user * DAY) for user in range(count)]
    random.Random(seed).shuffle(rows)
    return rows


def read_rows(path):
    with open(path, encoding="utf-8", newline="") as file:
        reader = csv.reader(file)
        header = next(reader)
        return header, [(int(u), int(m), float(r), int(t)) for u, m, r, t in reader]


def test_after_a_date_holds_back_exactly_the_later_ratings_sorted_by_time(spark, tmp_path):
    rows = one_a_day() + [(7, 3, 1.0, START + 90 * DAY), (7, 3, 5.0, START + 95 * DAY)]  # a re-rating: newest wins
    rows.append((8, 99, 4.0, START + 99 * DAY))  # not in the catalog: never trained on, never held back
    dataset = load_movielens(spark, str(write_dataset(tmp_path / "data", rows)))
    summary = write_futures(dataset, str(tmp_path / "futures.csv"), str(tmp_path / "rest"), after=instant("2020-03-01"))
    header, futures = read_rows(tmp_path / "futures.csv")
    assert header == ["userId", "movieId", "rating", "timestamp"]
    cutoff = instant("2020-03-01")
    expected = sorted(((u, m, r, t) for u, m, r, t in one_a_day() if t >= cutoff), key=lambda row: row[3])
    expected.insert(35, (7, 3, 5.0, START + 95 * DAY))  # 2020-03-01 is day 60: days 60..94 come first
    assert futures == expected
    assert summary["futures"] == len(expected) and summary["cutoff"] == "2020-03-01T00:00:00Z"
    _, rest = read_rows(tmp_path / "rest" / "ratings.csv")
    assert all(t < cutoff for _, _, _, t in rest) and len(rest) == summary["remaining"] == 60
    assert not {(u, m) for u, m, _, _ in rest} & {(u, m) for u, m, _, _ in futures}
    assert [row[3] for row in rest] == sorted(row[3] for row in rest)


def test_the_remaining_dataset_loads_with_every_movie_and_without_the_futures(spark, tmp_path):
    dataset = load_movielens(spark, str(write_dataset(tmp_path / "data", one_a_day(40))))
    write_futures(dataset, str(tmp_path / "futures.csv"), str(tmp_path / "rest"), last=0.25)
    rest = load_movielens(spark, str(tmp_path / "rest"))
    assert sorted(tuple(r) for r in rest.movies.collect()) == sorted(tuple(r) for r in dataset.movies.collect())
    assert sorted(r["userId"] for r in rest.ratings.collect()) == list(range(30))


@pytest.mark.parametrize("last, held_back", [(0.1, 10), (0.25, 25), (0.5, 50)])
def test_last_fraction_holds_back_the_newest_ratings(spark, tmp_path, last, held_back):
    dataset = load_movielens(spark, str(write_dataset(tmp_path / "data", one_a_day())))
    summary = write_futures(dataset, str(tmp_path / "futures.csv"), last=last)
    _, futures = read_rows(tmp_path / "futures.csv")
    assert [u for u, _, _, _ in futures] == list(range(100 - held_back, 100))  # the newest, oldest first
    assert summary["futures"] == held_back and summary["remaining"] == 100 - held_back
    assert not (tmp_path / "futures.csv.writing").exists()


def test_a_split_leaving_one_side_empty_fails_naming_the_dates(spark, tmp_path):
    dataset = load_movielens(spark, str(write_dataset(tmp_path / "data", one_a_day(10))))
    with pytest.raises(ValueError, match="no ratings at or after 2021-01-01.*newest is from 2020-01-10"):
        write_futures(dataset, str(tmp_path / "f.csv"), after=instant("2021-01-01"))
    with pytest.raises(ValueError, match="nothing would remain"):
        write_futures(dataset, str(tmp_path / "f.csv"), after=instant("2019-01-01"))
    assert not (tmp_path / "f.csv").exists()


def parse(argv):
    parser = argparse.ArgumentParser()
    add_futures_arguments(parser.add_subparsers(dest="kind"))
    return parser.parse_args(argv)


def test_the_subcommand_takes_a_date_or_a_fraction_but_not_both(capsys):
    args = parse(["futures", "--dataset", "d", "--after", "2020-03-01T12:00:00+02:00", "--output", "f.csv"])
    assert args.after == instant("2020-03-01T10:00:00") and args.last is None and args.remaining is None
    assert parse(["futures", "--dataset", "d", "--last", "0.1", "--output", "f"]).last == 0.1
    for argv in (["--after", "2020-03-01", "--last", "0.1"], ["--last", "1.5"], ["--after", "March"], []):
        with pytest.raises(SystemExit):
            parse(["futures", "--dataset", "d", "--output", "f", *argv])
