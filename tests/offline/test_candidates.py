"""The candidate harness measures what the service would serve: its lists, EASE's closed form, the genre blend."""

from types import SimpleNamespace

import numpy as np
import pytest

from recommender.limits import GENRE_WEIGHT
from recommender.model.genre_blend import few_ratings_scores, genre_blended, reference_rows
from recommender.model.live_model import LiveModel
from recommender.offline.candidates import (
    EaseScorer, blend_scorer, ease_inputs, ease_weights, served_als_scorer, served_lists,
)


def test_the_served_ranking_scorer_gives_the_lists_the_service_serves(tiny_model):
    live = LiveModel()
    live.swap_model(tiny_model)
    users = tiny_model.user_ids.tolist()
    lists = served_lists(tiny_model, served_als_scorer(tiny_model), users, k=3)
    assert lists == {u: [p.movie.movie_id for p in live.recommend(u, 3).items] for u in users}


def test_ease_weights_are_each_columns_ridge_regression_on_the_other_columns():
    """EASE's closed form equals, column by column, ridge regression of x_j on the other columns."""
    matrix = np.random.default_rng(3).integers(0, 3, (40, 6)).astype(np.float64)
    lam = 5.0
    weights = ease_weights(matrix, lam)
    assert np.allclose(np.diag(weights), 0.0)
    for j in range(6):
        others = [i for i in range(6) if i != j]
        x = matrix[:, others]
        ridge = np.linalg.solve(x.T @ x + lam * np.eye(5), x.T @ matrix[:, j])
        assert weights[others, j] == pytest.approx(ridge, rel=1e-4, abs=1e-5)


def test_ease_scores_a_users_history_times_the_weights_and_leaves_other_movies_unscored(tiny_model):
    transform = lambda r: np.maximum(r - 3.0, 0.0)  # noqa: E731
    items, column, matrix = ease_inputs(tiny_model, 1, transform)
    weights = ease_weights(matrix, 10.0)
    user_id = int(tiny_model.user_ids[0])
    user = tiny_model.user(user_id)
    scores = EaseScorer(tiny_model, items, column, weights, transform)(user_id, user)
    expected = transform(user.ratings.astype(np.float64)) @ weights[column[user.rows]]
    assert scores[items] == pytest.approx(expected, rel=1e-5)
    assert np.isnan(np.delete(scores, items)).all()


def test_a_blend_of_one_scorer_is_its_standardized_score(tiny_model):
    user_id = int(tiny_model.user_ids[0])
    user = tiny_model.user(user_id)
    plain = served_als_scorer(tiny_model)(user_id, user)
    blended = blend_scorer(tiny_model, [(2.0, served_als_scorer(tiny_model))])(user_id, user)
    reference = reference_rows(tiny_model)
    expected = 2.0 * (plain - plain[reference].mean()) / plain[reference].std()
    assert blended == pytest.approx(expected, rel=1e-4, abs=1e-6)


def test_the_genre_blend_with_the_served_weight_is_the_served_blend():
    catalog = SimpleNamespace(
        movie_ids=np.arange(4), genres=[("Action",), ("Action", "Comedy"), ("Romance",), ("Comedy",)],
        ratings_count=np.full(4, 30),
    )
    model = SimpleNamespace(catalog=catalog, has_factors=np.ones(4, bool), params={"ranking_rating_shift": 3.0})
    user = SimpleNamespace(rows=np.array([0, 3]), ratings=np.array([5.0, 4.0], np.float32))
    scores = np.array([1.0, 0.0, 0.2, -0.2])
    assert genre_blended(model, user, scores, GENRE_WEIGHT) == pytest.approx(few_ratings_scores(model, user, scores))
    assert not np.allclose(genre_blended(model, user, scores, 2 * GENRE_WEIGHT), few_ratings_scores(model, user, scores))
