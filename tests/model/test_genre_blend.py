"""Known answer of the few-ratings genre blend: a fan of one genre gets that genre over a popular crossover."""

from types import SimpleNamespace

import numpy as np
import pytest

from engine import RecommendationEngine
from recommender.datasets.movielens import load_movielens
from recommender.limits import FEW_RATINGS
from recommender.model.genre_blend import few_ratings_scores
from tests.support.tiny_data import TINY_MOVIES, TINY_PARAMS

ACTION_FANS = range(101, 131)
CROSSOVER = 8  # Notting Hill (Romance): every action fan watched it
NICHE = 6  # Ronin (Action): a few action fans watched it
FAN = 999  # posts the five action movies every action fan rated


@pytest.fixture(scope="module")
def crossover_engine(spark, tmp_path_factory):
    rows = [(user, movie, 5.0) for user in ACTION_FANS for movie in range(1, 6)]
    rows += [(user, CROSSOVER, 4.5) for user in ACTION_FANS]
    rows += [(user, NICHE, 4.0) for user in ACTION_FANS[:4]]
    rows += [(user, movie, 4.5) for user in range(201, 211) for movie in range(9, 13)]  # romance fans
    directory = tmp_path_factory.mktemp("crossover")
    (directory / "movies.csv").write_text(TINY_MOVIES, encoding="utf-8")
    lines = ["userId,movieId,rating,timestamp", *(f"{u},{m},{r},{i}" for i, (u, m, r) in enumerate(rows))]
    (directory / "ratings.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return RecommendationEngine(**TINY_PARAMS).fit(load_movielens(spark, str(directory)))


def test_the_blend_is_the_standardized_score_plus_half_the_standardized_genre_affinity():
    """Worked by hand: two Action and two Romance movies, all in the reference set (30 ratings each).

    The user rated movie 0 (Action) 5 stars: preference 2, profile (Action), affinity (1, 1, 0, 0),
    z(affinity) = (1, 1, -1, -1). z(plain) of (1.0, 0.0, 0.2, -0.2): mean 0.25, std 0.4555.
    """
    catalog = SimpleNamespace(
        movie_ids=np.arange(4), genres=[("Action",), ("Action",), ("Romance",), ("Romance",)],
        ratings_count=np.full(4, 30),
    )
    model = SimpleNamespace(catalog=catalog, has_factors=np.ones(4, bool), params={"ranking_rating_shift": 3.0})
    user = SimpleNamespace(rows=np.array([0]), ratings=np.array([5.0], np.float32))
    blended = few_ratings_scores(model, user, np.array([1.0, 0.0, 0.2, -0.2]))
    assert blended == pytest.approx([2.1464, -0.0488, -0.6098, -1.4878], abs=1e-3)
    # the Action movie the plain score put behind a Romance one now comes first among the unrated
    assert list(np.argsort(-blended[1:]) + 1) == [1, 2, 3]


def test_a_fan_with_few_ratings_is_answered_on_the_first_read_of_a_model(crossover_engine):
    """The blend's cached values are built from one another on the first read (once a deadlock)."""
    crossover_engine.add_ratings(FAN, [(movie, 5.0) for movie in range(1, 6)])
    top = crossover_engine.recommend(FAN, 2, min_ratings=0)
    assert top.personalized and {item.movie.movie_id for item in top.items} == {CROSSOVER, NICHE}


def test_users_with_more_ratings_keep_the_plain_ranking_score(crossover_engine):
    crossover_engine.add_ratings(7777, [(movie, 4.0) for movie in range(1, 13)])  # twelve ratings
    model, user = crossover_engine.model, crossover_engine._serving.users[7777]
    assert len(user.rows) > FEW_RATINGS
    prediction = crossover_engine.predict(7777, CROSSOVER)
    plain = float(model.rank_item_factors[model.catalog.row(CROSSOVER)] @ user.rank_factors)
    assert prediction.score == pytest.approx(plain, rel=1e-5)
