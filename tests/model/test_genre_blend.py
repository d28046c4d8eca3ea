"""Known answer of the few-ratings genre blend: a fan of one genre gets that genre over a popular crossover."""

import numpy as np
import pytest

from engine import RecommendationEngine
from recommender.datasets.movielens import load_movielens
from recommender.limits import FEW_RATINGS
from tests.support.tiny_data import TINY_MOVIES, TINY_PARAMS

ACTION_FANS = range(101, 131)
CROSSOVER = 8  # Notting Hill (Romance): every action fan watched it
NICHE = 6  # Ronin (Action): a few action fans watched it
FAN = 999  # posts three action movies


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


def test_a_fan_with_few_ratings_gets_the_genre_the_plain_ranking_score_puts_second(crossover_engine):
    crossover_engine.add_ratings(FAN, [(1, 5.0), (2, 5.0), (3, 5.0)])
    model, user = crossover_engine.model, crossover_engine._serving.users[FAN]
    plain = model.rank_item_factors @ user.rank_factors
    rows = model.catalog.rows(np.array([CROSSOVER, NICHE]))
    assert plain[rows[0]] > plain[rows[1]]  # collaborative evidence alone: the crossover first
    top = [item.movie.movie_id for item in crossover_engine.recommend(FAN, 2, min_ratings=0).items]
    assert top[0] == NICHE and CROSSOVER in top


def test_users_with_more_ratings_keep_the_plain_ranking_score(crossover_engine):
    crossover_engine.add_ratings(7777, [(movie, 4.0) for movie in range(1, 13)])  # twelve ratings
    model, user = crossover_engine.model, crossover_engine._serving.users[7777]
    assert len(user.rows) > FEW_RATINGS
    prediction = crossover_engine.predict(7777, CROSSOVER)
    plain = float(model.rank_item_factors[model.catalog.row(CROSSOVER)] @ user.rank_factors)
    assert prediction.score == pytest.approx(plain, rel=1e-5)
