"""min_ratings fitted to the data, and a default that never leaves a top-N list short."""

import numpy as np

from recommender.model.thresholds import fitted_min_ratings
from tests.support.tiny_data import TINY_PARAMS
from engine import RecommendationEngine


def test_the_tutorials_25_where_enough_movies_reach_it():
    counts = np.r_[np.full(150, 40), np.full(5000, 3)]
    assert fitted_min_ratings(counts) == 25


def test_a_lower_threshold_that_keeps_a_hundred_movies_in_a_mid_sized_catalog():
    counts = np.r_[np.full(60, 100), np.full(40, 12), np.full(300, 2)]
    assert fitted_min_ratings(counts) == 12  # the 100th most rated movie has 12


def test_half_of_a_small_catalog_and_never_below_one():
    counts = np.r_[np.arange(4, 72) // 4, np.zeros(10, np.int64)]  # 68 rated items with 1 to 17 buyers
    assert fitted_min_ratings(counts) == 9  # the 34th most bought has 9
    assert fitted_min_ratings(np.ones(5, np.int64)) == 1
    assert fitted_min_ratings(np.zeros(3, np.int64)) == 1


def test_the_default_falls_back_to_every_rated_movie_when_it_leaves_a_list_short(tiny_model):
    engine = RecommendationEngine(**TINY_PARAMS)
    engine.min_ratings = 10**6  # an operator's threshold no tiny movie reaches
    engine.swap_model(tiny_model)
    assert engine.min_ratings_in_force() == 10**6
    assert len(engine.recommend(1, count=3).items) == 3  # the default: filled from every rated movie
    assert engine.recommend(1, count=3, min_ratings=10**6).items == []  # asked for: kept
    assert engine.summary().min_ratings == 10**6 and engine.summary().min_ratings_source == "option"
