from dataclasses import replace
from datetime import timedelta

import numpy as np
import pyarrow as pa
import pytest

from tests.support.tiny_data import ACTION, ACTION_FANS, ROMANCE, ROMANCE_FANS, UNRATED_MOVIE, skipped_movie, tiny_ratings
from recommender.datasets.movielens import load_movielens
from engine import InvalidRatingError, NotFittedError, RecommendationEngine, UnknownMovieError, model_version
from recommender.model.fold_in import fold_in_user


def movie_ids(recommendations):
    return [p.movie.movie_id for p in recommendations.items]


@pytest.mark.parametrize("order", ["relevance", "rating"])
@pytest.mark.parametrize("user", [1, 4, 12, 17])
def test_a_fan_gets_the_one_movie_of_their_genre_they_have_not_rated(tiny_engine, user, order):
    recommendations = tiny_engine.recommend(user, count=1, min_ratings=0, order=order)
    assert recommendations.personalized
    assert movie_ids(recommendations) == [skipped_movie(user)]


@pytest.mark.parametrize("order, key", [("relevance", "score"), ("rating", "rating")])
def test_recommendations_never_include_rated_movies_and_are_sorted(tiny_engine, order, key):
    for user in [*ACTION_FANS, *ROMANCE_FANS]:
        rated = {m for u, m, _ in tiny_ratings() if u == user}
        recommendations = tiny_engine.recommend(user, count=20, min_ratings=0, order=order)
        assert not rated & set(movie_ids(recommendations))
        assert len(recommendations.items) == 12 - len(rated)  # the unrated movie 13 has no factors
        values = [getattr(p, key) for p in recommendations.items]
        assert values == sorted(values, reverse=True)


def test_predictions_are_clipped_to_the_rating_scale(tiny_engine):
    low, high = tiny_engine.summary().rating_scale
    assert (low, high) == (1.0, 5.0)
    predictions = [tiny_engine.predict(u, m).rating for u in range(1, 21) for m in range(1, 14)]
    assert min(predictions) >= low and max(predictions) <= high
    assert tiny_engine.predict(1, skipped_movie(1)).rating > 4.0
    assert tiny_engine.predict(1, ROMANCE[0]).rating < 2.5


def test_min_ratings_filters_candidates(tiny_engine):
    for user in (1, 424242):  # personalized and popular lists alike
        counts = [p.movie.ratings_count for p in tiny_engine.recommend(user, 50, 0).items]
        threshold = max(counts)
        filtered = tiny_engine.recommend(user, 50, threshold)
        assert [p.movie.ratings_count for p in filtered.items] == [threshold] * counts.count(threshold)
    assert tiny_engine.recommend(1, 10, 10_000).items == []


def test_unknown_user_gets_popular_movies_by_damped_mean(tiny_engine):
    recommendations = tiny_engine.recommend(424242, count=20, min_ratings=0)
    assert not recommendations.personalized
    assert UNRATED_MOVIE not in movie_ids(recommendations)
    assert len(recommendations.items) == 12
    ratings = [p.rating for p in recommendations.items]
    assert ratings == sorted(ratings, reverse=True)
    assert [p.score for p in recommendations.items] == ratings  # the damped mean, unclipped within the scale
    assert tiny_engine.recommend(424242, count=20, min_ratings=0, order="rating").items == recommendations.items
    prediction = tiny_engine.predict(424242, 1)
    assert not prediction.personalized and 1.0 <= prediction.rating <= 5.0
    assert tiny_engine.user_ratings(424242) == []


def assert_fold_in_reproduces_training(model, users):
    """Spark's last ALS half-step solves each user against the final item factors."""
    for user in users:
        state = model.user(user)
        bias, factors = fold_in_user(model, state.rows, state.ratings)
        assert bias == pytest.approx(state.bias, abs=1e-5)
        np.testing.assert_allclose(factors, state.factors, rtol=1e-3, atol=1e-4)


def test_folding_in_a_training_user_reproduces_its_bias_and_sparks_factors(tiny_engine):
    model = tiny_engine.model
    assert np.abs(model.user_bias).max() > 0.01 and np.abs(model.item_bias).max() > 0.01
    assert_fold_in_reproduces_training(model, (1, 15))


def test_implicit_mode_folds_in_like_spark_and_ranks_the_users_genre_first(spark, tiny_dataset_dir):
    dataset = load_movielens(spark, str(tiny_dataset_dir))
    engine = RecommendationEngine(rank=4, iterations=10, reg_param=0.05, seed=7, implicit_prefs=True, alpha=2.0)
    model = engine.fit(dataset).model
    assert model.score_offset == 0.0 and not model.user_bias.any() and not model.item_bias.any()
    assert_fold_in_reproduces_training(model, (2, 16))
    assert engine.summary().params["implicit_prefs"] is True


def test_new_ratings_personalize_the_next_read(tiny_engine, new_user_id):
    assert not tiny_engine.recommend(new_user_id, 4, 0).personalized
    accepted = tiny_engine.add_ratings(new_user_id, [(1, 5.0), (2, 5.0), (7, 1.0)])
    assert [(r.movie.movie_id, r.rating) for r in accepted] == [(1, 5.0), (2, 5.0), (7, 1.0)]
    recommendations = tiny_engine.recommend(new_user_id, 4, 0)
    assert recommendations.personalized
    assert set(movie_ids(recommendations)) == set(ACTION) - {1, 2}
    assert tiny_engine.predict(new_user_id, 3).personalized


def test_a_re_rating_replaces_the_old_one(tiny_engine, new_user_id):
    tiny_engine.add_ratings(new_user_id, [(1, 5.0), (8, 2.0)])
    tiny_engine.add_ratings(new_user_id, [(1, 1.0)])
    assert [(r.movie.movie_id, r.rating) for r in tiny_engine.user_ratings(new_user_id)] == [(1, 1.0), (8, 2.0)]


def test_training_users_can_add_ratings_too(tiny_engine, new_user_id):
    user = 3  # an action fan; rating its skipped movie removes it from its recommendations
    before = len(tiny_engine.user_ratings(user))
    tiny_engine.add_ratings(user, [(skipped_movie(user), 5.0)])
    assert len(tiny_engine.user_ratings(user)) == before + 1
    assert skipped_movie(user) not in movie_ids(tiny_engine.recommend(user, 20, 0))


@pytest.mark.parametrize(
    "batch, index, reason",
    [
        ([(1, 5.0), (999, 4.0)], 1, "movie 999 is not in the catalog"),
        ([(1, 5.0), (2, 9.0)], 1, "rating 9 is outside the scale 1 to 5"),
        ([(1, 0.5)], 0, "outside the scale"),
        ([(1, float("nan"))], 0, "outside the scale"),
        ([(1, 5.0), (1, 4.0)], 1, "movie 1 is rated twice in this batch"),
        ([(1, 5.0), (1, 9.0), (999, 4.0)], 1, "rating 9 is outside the scale"),  # the first bad one, its first fault
        ([(2, 4.0), (999, 9.0), (2, 4.0)], 1, "movie 999 is not in the catalog"),
        ([(2, 4.0), (2**70, 4.0)], 1, f"movie {2**70} is not in the catalog"),
        ([], 0, "no ratings given"),
    ],
)
def test_an_invalid_batch_changes_nothing(tiny_engine, new_user_id, batch, index, reason):
    with pytest.raises(InvalidRatingError) as raised:
        tiny_engine.add_ratings(new_user_id, batch)
    assert raised.value.index == index and reason in raised.value.reason
    assert tiny_engine.user_ratings(new_user_id) == []


def test_an_unknown_movie_is_a_domain_error(tiny_engine):
    with pytest.raises(UnknownMovieError, match="movie 999 is not in the catalog"):
        tiny_engine.predict(1, 999)


def test_an_unknown_order_is_refused(tiny_engine):
    with pytest.raises(ValueError, match="order must be one of relevance, rating"):
        tiny_engine.recommend(1, order="newest")


def test_an_unfitted_engine_says_so():
    with pytest.raises(NotFittedError):
        RecommendationEngine().recommend(1)


def test_summary_counts_what_was_trained(tiny_engine):
    summary = tiny_engine.summary()
    assert (summary.users, summary.movies, summary.ratings) == (20, 13, len(tiny_ratings()))
    assert summary.rank == 4


def later_version(model, **changes):
    """The same factors as a newer model (a stand-in for a retrain's result)."""
    trained_at = model.trained_at + timedelta(seconds=1)
    return replace(model, version=model_version(trained_at), trained_at=trained_at, **changes)


def test_a_swap_folds_in_again_only_ratings_the_new_model_lacks(tiny_engine, new_user_id):
    engine = RecommendationEngine()
    engine.swap_model(tiny_engine.model)
    engine.add_ratings(new_user_id, [(1, 5.0), (2, 5.0)])  # accepted ratings 1-2
    engine.add_ratings(new_user_id, [(8, 1.0)])  # accepted rating 3
    # A model trained on the first two accepted ratings (here: factors that never saw them).
    engine.swap_model(later_version(tiny_engine.model, log_position=2))
    assert [(r.movie.movie_id, r.rating) for r in engine.user_ratings(new_user_id)] == [(8, 1.0)]
    assert engine.recommend(new_user_id, 3, 0, order="rating").personalized
    # One low rating says nothing the ranking model can use: its list stays the popular one.
    assert not engine.recommend(new_user_id, 3, 0).personalized
    assert engine.unmodelled_count() == 1


def test_model_versions_never_go_backwards(tiny_engine):
    engine = RecommendationEngine()
    engine.swap_model(later_version(tiny_engine.model))
    with pytest.raises(ValueError, match="not newer"):
        engine.swap_model(tiny_engine.model)
    assert engine.model.version == later_version(tiny_engine.model).version


def test_replay_applies_logged_ratings_after_the_covered_ones(tiny_engine, new_user_id):
    logged = pa.table({
        "userId": pa.array([new_user_id, new_user_id, new_user_id, new_user_id], pa.int32()),
        "movieId": pa.array([1, 2, 3, 2], pa.int32()),
        "rating": [5.0, 4.0, 2.0, 1.5],
        "timestamp": pa.array([1, 2, 3, 4], pa.int64()),
    })
    engine = RecommendationEngine()
    engine.replay(logged, covered=1)
    engine.swap_model(tiny_engine.model)
    # The first record is in the model's data; movie 2's later rating replaced its earlier one.
    assert [(r.movie.movie_id, r.rating) for r in engine.user_ratings(new_user_id)] == [(2, 1.5), (3, 2.0)]
    assert engine.summary().accepted_ratings == 4 and engine.unmodelled_count() == 4
