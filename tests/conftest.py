"""Fixtures: one local Spark for the suite, one tiny model trained once, a fresh engine and app per test."""

import os

import pytest
from pyspark.sql import SparkSession

from app import create_app
from engine import RecommendationEngine
from recommender.datasets.movielens import load_movielens
from tests.support.postgres import PostgresServer
from tests.support.saved_model import SavedModel, save_model_as_server_would
from tests.support.tiny_data import TINY_PARAMS, write_tiny_dataset

TEST_APP_CONFIG = {"DEFAULT_MIN_RATINGS": 0, "MAX_CONTENT_LENGTH": 4096, "MAX_COUNT": 50}
# The directories whose tests start services, clusters or the image as processes: a minute or
# more per file, most of it spent waiting for JVMs.
PROCESS_TEST_DIRS = ("end_to_end", "bench")


def pytest_collection_modifyitems(config, items):
    """Run the files that start processes first, each file's own order kept.

    With pytest-xdist's ``--dist loadfile --no-loadscope-reorder`` (``make test``) the workers take
    files in this order, so the long files start at once and the short ones fill in around them
    instead of one long file running alone at the end.
    """
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    items.sort(key=lambda item: os.path.relpath(str(item.path), tests_dir).split(os.sep)[0] not in PROCESS_TEST_DIRS)


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
def tiny_model(spark, tiny_dataset_dir):
    """The tiny dataset's TrainedModel, trained once; immutable, so every test may share it."""
    return RecommendationEngine(**TINY_PARAMS).train(load_movielens(spark, str(tiny_dataset_dir)))


@pytest.fixture(scope="session")
def saved_tiny_model(spark, tmp_path_factory):
    """The tiny dataset and a state directory with its quick model saved, as a service saves it.

    Built once per worker for the services that only need some model to start from; a test
    starts its service with ``--dataset saved_tiny_model.dataset`` and a ``copy_state`` of its own.
    """
    root = tmp_path_factory.mktemp("saved-tiny-model")
    dataset = write_tiny_dataset(root / "data")
    return SavedModel(dataset, save_model_as_server_would(spark, dataset, root / "state"))


@pytest.fixture
def tiny_engine(tiny_model):
    """A fresh engine serving the shared tiny model: what a test writes stays in its own engine."""
    engine = RecommendationEngine(**TINY_PARAMS)
    engine.swap_model(tiny_model)
    return engine


@pytest.fixture
def new_user_id():
    """A user id with no ratings in the tiny dataset."""
    return 1000


@pytest.fixture
def app(tiny_engine):
    return create_app(tiny_engine, TEST_APP_CONFIG)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def repo_root():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server for the suite (tests/support/postgres.py), stopped at the end."""
    server = PostgresServer()
    server.start()
    yield server
    server.stop()
    server.remove()
