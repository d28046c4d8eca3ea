"""A write validated against one model and folded in after another swapped in (no Spark: synthetic models)."""

import threading
import time
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

import numpy as np

from recommender.model.live_model import LiveModel
from recommender.model.trained import model_version
from tests.support.synthetic_model import synthetic_model


class HeldLog:
    """A ratings log whose fsync returns only once ``release`` is set."""

    generation = 0

    def __init__(self):
        self.release = threading.Event()
        self.writing = threading.Event()
        self.synced = False

    def write(self, user_id, ratings, timestamp):
        self.writing.set()
        return SimpleNamespace(generation=0, end=1)

    def sync(self, ticket):
        assert self.release.wait(10)
        self.synced = True

    def durable(self, ticket):
        return self.synced


def test_a_write_validated_against_one_model_folds_in_by_movie_into_the_next():
    old = synthetic_model(movies=100)
    # The next model's catalog has other rows for the same movies: ids 2, 4, ... 240.
    new = synthetic_model(movies=120, seed=1)
    trained_at = old.trained_at + timedelta(seconds=1)
    new = replace(new, version=model_version(trained_at), trained_at=trained_at,
                  catalog=replace(new.catalog, movie_ids=np.arange(1, 121, dtype=np.int64) * 2))
    log = HeldLog()
    engine = LiveModel(log)
    engine.swap_model(old)
    posted = [(2, 5.0), (4, 4.0), (6, 3.0)]  # rows 1, 3, 5 of the old catalog; 0, 1, 2 of the new
    writer = threading.Thread(target=engine.add_ratings, args=(10_000, posted))
    writer.start()
    assert log.writing.wait(10)
    time.sleep(0.1)  # the writer now waits for its fsync
    engine.swap_model(new)
    log.release.set()
    writer.join(10)
    assert [(r.movie.movie_id, r.rating) for r in engine.user_ratings(10_000)] == posted
