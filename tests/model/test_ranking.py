"""The ranking model beside the rating model: the two orders, scores, and fold-in into both models."""

from types import SimpleNamespace

import numpy as np
import pytest

from engine import RecommendationEngine
from recommender.datasets.movielens import load_movielens
from recommender.model.fold_in import fold_in_ranking_user, fold_in_user
from recommender.model.genre_blend import few_ratings_scores
from tests.support.tiny_data import TINY_MOVIES, TINY_PARAMS

NEIGHBOURS = range(101, 121)  # love movies 1-5, and every one of them watched movie 6, liking it moderately
TARGET = 121  # one more of them, who has seen neither 6 nor 7
WATCHED = 6  # what the target's neighbours watched
ACCLAIMED = 7  # rated 5 by three neighbours only: the best predicted rating, rarely picked


@pytest.fixture(scope="module")
def neighbourhood_engine(spark, tmp_path_factory):
    rows = [(user, movie, 5.0 - 0.5 * ((user + movie) % 2)) for user in NEIGHBOURS for movie in range(1, 6)]
    rows += [(user, WATCHED, 3.5) for user in NEIGHBOURS]
    rows += [(user, ACCLAIMED, 5.0) for user in NEIGHBOURS[:3]]
    rows += [(user, movie, 4.5) for user in range(201, 211) for movie in range(8, 13)]  # another taste
    rows += [(TARGET, movie, 5.0) for movie in range(1, 6)]
    directory = tmp_path_factory.mktemp("neighbourhood")
    (directory / "movies.csv").write_text(TINY_MOVIES, encoding="utf-8")
    lines = ["userId,movieId,rating,timestamp", *(f"{u},{m},{r},{i}" for i, (u, m, r) in enumerate(rows))]
    (directory / "ratings.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    engine = RecommendationEngine(**TINY_PARAMS)
    return engine.fit(load_movielens(spark, str(directory)))


def test_relevance_puts_what_the_neighbours_watched_first_where_the_rating_order_does_not(neighbourhood_engine):
    by_rating = neighbourhood_engine.recommend(TARGET, 10, 0, order="rating")
    by_relevance = neighbourhood_engine.recommend(TARGET, 10, 0)  # the default order
    rating_order = [p.movie.movie_id for p in by_rating.items]
    relevance_order = [p.movie.movie_id for p in by_relevance.items]
    assert rating_order[0] == ACCLAIMED and rating_order.index(WATCHED) > 1  # below the other taste's too
    assert relevance_order[0] == WATCHED and sorted(relevance_order) == sorted(rating_order)
    assert by_rating.personalized and by_relevance.personalized
    watched, acclaimed = by_relevance.items[0], by_relevance.items[relevance_order.index(ACCLAIMED)]
    assert watched.score > acclaimed.score and watched.rating < acclaimed.rating
    # Each item carries both: the same predicted rating and score whatever the order.
    assert {p.movie.movie_id: (p.rating, p.score) for p in by_rating.items} == {
        p.movie.movie_id: (p.rating, p.score) for p in by_relevance.items
    }
    one = neighbourhood_engine.predict(TARGET, WATCHED)
    assert (one.rating, one.score) == pytest.approx((watched.rating, watched.score))


def test_folding_in_a_training_user_reproduces_sparks_ranking_factors(tiny_engine):
    model = tiny_engine.model
    for user in (1, 15):
        state = model.user(user)
        factors = fold_in_ranking_user(model, state.rows, state.ratings)
        np.testing.assert_allclose(factors, state.rank_factors, rtol=1e-3, atol=1e-4)


def test_a_new_rating_is_folded_into_both_models_before_add_ratings_returns(tiny_engine, new_user_id):
    ratings = [(1, 5.0), (2, 4.5), (3, 5.0), (4, 4.0), (5, 5.0), (8, 2.0)]
    tiny_engine.add_ratings(new_user_id, ratings)
    model = tiny_engine.model
    rows, values = model.catalog.rows(np.array([m for m, _ in ratings])), np.array([r for _, r in ratings], np.float32)
    bias, factors = fold_in_user(model, rows, values)
    for order in ("relevance", "rating"):
        recommendations = tiny_engine.recommend(new_user_id, 1, 0, order=order)
        assert recommendations.personalized and [p.movie.movie_id for p in recommendations.items] == [6]
    prediction = tiny_engine.predict(new_user_id, 6)
    expected_rating = model.score_offset + bias + model.item_bias[5] + model.item_factors[5] @ factors
    # six ratings: a user with few ratings, whose ranking score is the genre blend of the folded-in factors
    plain_scores = model.rank_item_factors @ fold_in_ranking_user(model, rows, values)
    user = SimpleNamespace(rows=np.sort(rows), ratings=values[np.argsort(rows)])
    expected_score = few_ratings_scores(model, user, plain_scores)[5]
    assert prediction.rating == pytest.approx(min(expected_rating, 5.0), abs=1e-4)
    assert prediction.score == pytest.approx(expected_score, abs=1e-4)

