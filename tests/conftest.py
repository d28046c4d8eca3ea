import itertools
import os
import time

import pytest
from pyspark.sql import SparkSession

from app import create_app
from dataset import load_movielens
from engine import RecommendationEngine

ACTION = [1, 2, 3, 4, 5, 6]
ROMANCE = [7, 8, 9, 10, 11, 12]
UNRATED_MOVIE = 13
ACTION_FANS = range(1, 11)
ROMANCE_FANS = range(11, 21)

TINY_MOVIES = """movieId,title,genres
1,"Great Escape, The (1963)",Action|Adventure
2,Die Hard (1988),Action
3,Heat (1995),Action|Crime
4,Speed (1994),Action
5,"Rock, The (1996)",Action
6,Ronin (1998),Action
7,"Say ""Anything"" (1989)",Romance
8,Notting Hill (1999),Romance
9,Amélie (2001),Romance|Comedy
10,Casablanca (1942),Romance|Drama
11,Titanic (1997),Romance
12,Ghost (1990),Romance
13,Never Rated (2000),(no genres listed)
"""


def tiny_ratings():
    """Two taste clusters: fans love their genre and dislike the other.

    Fan ``u`` leaves one movie of its own genre unrated, so that movie is the known
    answer of its top-1, and rates four movies of the other genre low.
    """
    rows = []
    for fans, liked, disliked in ((ACTION_FANS, ACTION, ROMANCE), (ROMANCE_FANS, ROMANCE, ACTION)):
        for user in fans:
            skipped = liked[user % len(liked)]
            for movie in liked:
                if movie != skipped:
                    rows.append((user, movie, 4.5 + 0.5 * ((user + movie) % 2)))
            for movie in disliked[user % 3: user % 3 + 4]:
                rows.append((user, movie, 1.0 + 0.5 * ((user + movie) % 2)))
    return rows


def skipped_movie(user):
    liked = ACTION if user in ACTION_FANS else ROMANCE
    return liked[user % len(liked)]


def write_tiny_dataset(directory, extra_rating_lines=""):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "movies.csv").write_text(TINY_MOVIES, encoding="utf-8")
    lines = ["userId,movieId,rating,timestamp"]
    lines += [f"{u},{m},{r},{1000 + i}" for i, (u, m, r) in enumerate(tiny_ratings())]
    (directory / "ratings.csv").write_text("\n".join(lines) + "\n" + extra_rating_lines, encoding="utf-8")
    return directory


def wait_for(condition, timeout=240, interval=0.1):
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout}s")


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    session = (
        SparkSession.builder.master("local[2]")
        .appName("recommender-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    session.sparkContext.setCheckpointDir(str(tmp_path_factory.mktemp("checkpoints")))
    yield session
    session.stop()


@pytest.fixture(scope="session")
def tiny_dataset_dir(tmp_path_factory):
    return write_tiny_dataset(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def tiny_engine(spark, tiny_dataset_dir):
    """Shared across the suite: tests that add ratings use fresh user ids (see new_user_id)."""
    dataset = load_movielens(spark, str(tiny_dataset_dir))
    return RecommendationEngine(rank=4, iterations=15, reg_param=0.05, seed=7).fit(dataset)


_user_ids = itertools.count(1000)


@pytest.fixture
def new_user_id():
    """A user id no other test has rated with."""
    return next(_user_ids)


@pytest.fixture
def app(tiny_engine):
    return create_app(tiny_engine, {"DEFAULT_MIN_RATINGS": 0, "MAX_CONTENT_LENGTH": 4096, "MAX_COUNT": 50})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def repo_root():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
