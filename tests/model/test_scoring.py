"""top_rows: the best rows of a score array by partial partition, in a fixed order."""

import numpy as np

from recommender.model.scoring import top_rows


def test_the_best_rows_come_highest_first_ties_by_lower_row():
    scores = np.array([1.0, 3.0, 2.0, 3.0, 0.5, 3.0])
    assert top_rows(scores, 2).tolist() == [1, 3]
    assert top_rows(scores, 4).tolist() == [1, 3, 5, 2]
    assert top_rows(scores, 10).tolist() == [1, 3, 5, 2, 0, 4]


def test_non_finite_scores_are_never_chosen_even_when_fewer_remain():
    scores = np.array([-np.inf, 2.0, np.nan, 1.0, -np.inf, np.nan, 4.0, np.inf])
    assert top_rows(scores, 2).tolist() == [6, 1]
    assert top_rows(scores, 5).tolist() == [6, 1, 3]
    assert top_rows(np.full(5, -np.inf), 3).tolist() == []


def test_a_large_catalog_gives_what_a_full_sort_gives():
    scores = np.random.default_rng(3).normal(size=14_000)
    np.testing.assert_array_equal(top_rows(scores, 10), np.argsort(-scores)[:10])
