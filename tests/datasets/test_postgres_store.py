"""The PostgreSQL ratings store against a real server: commit order, replication between engines, outages."""

import threading
from itertools import count

import numpy as np
import pytest

from recommender.datasets.postgres_store import Follower, PostgresRatingsStore, check_reachable
from recommender.datasets.ratings_log import LogWriteError
from recommender.model.live_model import LiveModel
from recommender.pipeline.jobs import merge_store_job, movielens_job
from tests.pipeline.test_parquet_dataset import movielens_dir, ratings_of as dataset_ratings
from tests.support.postgres import PostgresServer
from tests.support.tiny_data import ACTION, ROMANCE
from tests.support.waiting import wait_for

databases = count()


@pytest.fixture
def store_url(postgres):
    return postgres.new_database(f"store{next(databases)}")


def replica(url, model):
    """A LiveModel on the shared store at ``url``, serving ``model`` and following the others."""
    store = PostgresRatingsStore(url)
    engine = LiveModel(store)
    store.follow(engine)
    follower = Follower(store, engine)
    logged = store.open()
    engine.replay(logged, covered=logged.num_rows)
    engine.swap_model(model)
    follower.start()
    return engine


def ratings_of(engine, user):
    return {(r.movie.movie_id, r.rating) for r in engine.user_ratings(user)}


def test_a_rating_written_to_one_replica_is_folded_into_the_other(store_url, tiny_model):
    a, b = replica(store_url, tiny_model), replica(store_url, tiny_model)
    try:
        before = [p.movie.movie_id for p in b.recommend(5000, min_ratings=0).items]
        a.add_ratings(5000, [(movie, 5.0) for movie in ROMANCE[:3]] + [(movie, 1.0) for movie in ACTION[:3]])
        wait_for(lambda: ratings_of(b, 5000) == ratings_of(a, 5000), timeout=1)
        after = [p.movie.movie_id for p in b.recommend(5000, min_ratings=0).items]
        assert after != before and after[0] in ROMANCE
        assert b.accepted == a.accepted == 6
    finally:
        a.ratings_log.close()
        b.ratings_log.close()


def test_concurrent_writers_on_two_replicas_converge_in_commit_order(store_url, tiny_model):
    a, b = replica(store_url, tiny_model), replica(store_url, tiny_model)
    rng = np.random.default_rng(3)
    plans = [[(int(u), int(m), float(r)) for u, m, r in zip(rng.integers(7000, 7010, 150), rng.integers(1, 13, 150),
                                                            rng.integers(2, 11, 150) / 2)] for _ in range(8)]

    def post(engine, plan):
        for user, movie, rating in plan:
            engine.add_ratings(user, [(movie, rating)])

    threads = [threading.Thread(target=post, args=((a, b)[i % 2], plan)) for i, plan in enumerate(plans)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        total = sum(map(len, plans))
        wait_for(lambda: a.accepted == b.accepted == total, timeout=5)
        logged = a.ratings_log.read()
        assert logged.num_rows == total
        for user in range(7000, 7010):  # the same (user, movie) rated on both: the later commit wins on both
            assert ratings_of(a, user) == ratings_of(b, user)
            np.testing.assert_array_equal(a._user_state(a._serving, user).factors, b._user_state(b._serving, user).factors)
    finally:
        a.ratings_log.close()
        b.ratings_log.close()


def test_losing_the_store_fails_writes_keeps_reads_and_writes_resume(tiny_model):
    server = PostgresServer()
    server.start()
    engine = replica(server.url, tiny_model)
    try:
        engine.add_ratings(6000, [(1, 4.0)])
        server.stop(mode="immediate")
        with pytest.raises(LogWriteError, match="could not commit"):
            engine.add_ratings(6000, [(2, 5.0)])
        assert engine.write_failure() is not None
        assert ratings_of(engine, 6000) == {(1, 4.0)}  # reads answer, without the failed write
        assert engine.recommend(6000, min_ratings=0).items
        server.start()
        engine.add_ratings(6000, [(3, 3.0)])
        assert engine.write_failure() is None
        assert ratings_of(engine, 6000) == {(1, 4.0), (3, 3.0)}
        assert engine.ratings_log.read().num_rows == 2
    finally:
        engine.ratings_log.close()
        server.stop()
        server.remove()


def test_an_unreachable_store_is_one_clear_error(postgres):
    with pytest.raises(ValueError, match=r"ratings store postgresql://postgres:\*\*\*@127.0.0.1:1/x cannot be used"):
        check_reachable("postgresql://postgres:secret@127.0.0.1:1/x")
    with pytest.raises(ValueError, match="does not exist"):
        check_reachable(postgres.url.rsplit("/", 1)[0] + "/no_such_database")


def test_etl_merge_upserts_the_stores_ratings_into_the_parquet_dataset(spark, tmp_path, store_url, tiny_model):
    output = str(tmp_path / "out")
    movielens_job(spark, movielens_dir(tmp_path / "ml"), output)
    engine = replica(store_url, tiny_model)
    try:
        engine.add_ratings(1, [(1, 1.5)])
        engine.add_ratings(7, [(2, 4.5)])
    finally:
        engine.ratings_log.close()
    merge_store_job(spark, store_url, output)
    merged = {(user, movie): rating for user, movie, rating, _ in dataset_ratings(spark, output)}
    assert merged[(1, 1)] == 1.5 and merged[(7, 2)] == 4.5 and merged[(1, 2)] == 3.0
