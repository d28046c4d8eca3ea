"""The fold-in's per-model state: Y'Y built once when a model is swapped in, giving the factors of the full solve."""

import dataclasses
import threading

import numpy as np

from engine import RecommendationEngine
from recommender.model import fold_in, live_model
from recommender.model.live_model import LiveModel
from recommender.model.trained import model_version
from tests.support.synthetic_model import synthetic_model
from tests.support.tiny_data import TINY_PARAMS


def full_solve(model, state):
    """The ranking half-step as it was before the cache: Y'Y computed from the factors on the spot."""
    params = model.params
    preferences = np.maximum(state.ratings.astype(np.float64) - params["ranking_rating_shift"], 0.0)
    return fold_in.solve_implicit_user_factors(
        model.rank_item_factors, model.has_factors, state.rows, preferences, params["ranking_reg_param"],
        params["ranking_alpha"],
    )


def test_the_cached_gram_gives_the_full_solves_factors_and_sparks(tiny_engine):
    model = tiny_engine.model
    for user in (1, 7, 15):
        state = model.user(user)
        cached = fold_in.fold_in_ranking_user(model, state.rows, state.ratings)
        np.testing.assert_allclose(cached, full_solve(model, state), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(cached, state.rank_factors, rtol=1e-3, atol=1e-4)  # what Spark trained


def test_the_gram_is_built_at_the_swap_and_never_by_a_write(tiny_model, new_user_id, monkeypatch):
    built = []
    real = fold_in.gram_matrix
    monkeypatch.setattr(fold_in, "gram_matrix", lambda *args: built.append(1) or real(*args))
    later = model_version(tiny_model.trained_at.replace(year=tiny_model.trained_at.year + 1))
    fresh = dataclasses.replace(tiny_model, version=later)  # a new model object: nothing cached on it yet
    engine = RecommendationEngine(**TINY_PARAMS)
    engine.swap_model(fresh)
    assert len(built) == 1  # the ranking model's; the explicit rating model's half-step needs none
    for movie in range(1, 6):
        engine.add_ratings(new_user_id, [(movie, 5.0), (movie + 6, 4.0)])
    assert len(built) == 1
    assert engine.recommend(new_user_id, 3, 0).personalized


def test_an_implicit_models_gram_is_cached_too(monkeypatch):
    model = synthetic_model(implicit_prefs=True)
    built = []
    real = fold_in.gram_matrix
    monkeypatch.setattr(fold_in, "gram_matrix", lambda *args: built.append(1) or real(*args))
    fold_in.prepare(model)
    assert len(built) == 2
    state = fold_in.fold_in(model, np.empty(0, np.int64), np.empty(0, np.float32), np.array([3, 5]),
                            np.array([4.0, 5.0], np.float32))
    assert len(built) == 2 and state.factors is not None and state.rank_factors is not None
    expected = fold_in.solve_implicit_user_factors(
        model.item_factors, model.has_factors, state.rows, state.ratings, model.params["reg_param"],
        model.params["alpha"],
    )
    assert len(built) == 3  # the uncached path builds it itself
    np.testing.assert_allclose(state.factors, expected, rtol=1e-6)


def test_a_batch_accepted_against_an_older_catalog_skips_the_movies_the_new_one_lacks():
    model = synthetic_model(movies=20)
    state = fold_in.fold_in(model, np.empty(0, np.int64), np.empty(0, np.float32), np.array([3, 999, 5]),
                            np.array([4.0, 5.0, 2.0], np.float32))
    assert model.catalog.movie_ids[state.rows].tolist() == [3, 5] and state.ratings.tolist() == [4.0, 2.0]


def test_writes_go_on_while_a_model_swaps_in_and_the_new_model_has_every_one(monkeypatch):
    old = synthetic_model(movies=40)
    new = dataclasses.replace(old, version=model_version(old.trained_at.replace(year=old.trained_at.year + 1)))
    engine = LiveModel()
    engine.swap_model(old)
    engine.add_ratings(2001, [(3, 4.0), (5, 2.0)])  # before the swap: folded in from the swap's snapshot
    writer_blocked = []
    real_prepare = live_model.prepare

    def prepare_while_a_user_writes(model):
        if model is new:  # the swap has begun: a write now must not wait for it to end
            writer = threading.Thread(target=engine.add_ratings, args=(2002, [(7, 5.0), (9, 1.0)]))
            writer.start()
            writer.join(timeout=10)
            writer_blocked.append(writer.is_alive())
        real_prepare(model)

    monkeypatch.setattr(live_model, "prepare", prepare_while_a_user_writes)
    engine.swap_model(new)
    assert writer_blocked == [False]
    assert engine.model is new
    for user, movies in ((2001, [3, 5]), (2002, [7, 9])):  # each batch folded into the new model once
        assert [r.movie.movie_id for r in engine.user_ratings(user)] == movies
        served = engine._current().users[user]
        alone = fold_in.fold_in(new, np.empty(0, np.int64), np.empty(0, np.float32), new.catalog.movie_ids[served.rows],
                                served.ratings)
        np.testing.assert_allclose(served.rank_factors, alone.rank_factors, rtol=1e-6)
    assert engine._current().users[2002].rank_factors is not None


def test_a_write_during_the_swaps_final_step_is_caught_up(monkeypatch):
    old = synthetic_model(movies=40)
    new = dataclasses.replace(old, version=model_version(old.trained_at.replace(year=old.trained_at.year + 1)))
    engine = LiveModel()
    engine.swap_model(old)
    real_folded_in = live_model.folded_in
    calls = []

    def write_after_the_snapshot_fold(model, entries, users):
        result = real_folded_in(model, entries, users)
        if model is new and not calls:  # the snapshot's fold-in is done; this write is after it
            calls.append(1)
            engine.add_ratings(2003, [(11, 4.5)])
        return result

    monkeypatch.setattr(live_model, "folded_in", write_after_the_snapshot_fold)
    engine.swap_model(new)
    assert engine.model is new
    assert [r.movie.movie_id for r in engine.user_ratings(2003)] == [11]
    assert engine._current().users[2003].rank_factors is not None
