"""ALS's non-negative option: Spark's NNLS factors, the same constraint in fold-in, and the options."""

import numpy as np
import pytest

import evaluate
import server
import tune
from engine import RecommendationEngine
from recommender.datasets.movielens import load_movielens
from recommender.model.fold_in import fold_in_user, solve_nonnegative
from recommender.offline.sagemaker_training import parse_hyperparameter
from recommender.offline.splits import DEFAULT_DATASET
from tests.support.tiny_data import ACTION, ROMANCE


def test_solve_nonnegative_meets_the_optimality_conditions_and_matches_an_unconstrained_interior():
    rng = np.random.default_rng(5)
    for size in (1, 3, 8):
        for _ in range(20):
            design = rng.normal(size=(40, size))
            gram, rhs = design.T @ design + 0.1 * np.eye(size), design.T @ rng.normal(size=40)
            x = solve_nonnegative(gram, rhs)
            gradient = rhs - gram @ x
            assert (x >= 0).all() and (gradient <= 1e-9).all()
            np.testing.assert_allclose(gradient[x > 0], 0, atol=1e-9)  # stationary on the free set
    gram = np.array([[2.0, 0.5], [0.5, 1.0]])
    interior = np.linalg.solve(gram, [3.0, 2.0])
    assert (interior > 0).all()
    np.testing.assert_allclose(solve_nonnegative(gram, np.array([3.0, 2.0])), interior)
    np.testing.assert_allclose(solve_nonnegative(gram, np.array([-1.0, -2.0])), [0.0, 0.0])


def test_nonnegative_als_trains_non_negative_factors_and_fold_in_reproduces_them(spark, tiny_dataset_dir):
    dataset = load_movielens(spark, str(tiny_dataset_dir))
    engine = RecommendationEngine(rank=4, iterations=15, reg_param=0.05, seed=7, nonnegative=True)
    model = engine.fit(dataset).model
    assert (model.item_factors >= 0).all() and (np.nan_to_num(model.user_factors) >= 0).all()
    assert engine.summary().params["nonnegative"] is True
    for user in (1, 15):
        state = model.user(user)
        bias, factors = fold_in_user(model, state.rows, state.ratings)
        assert bias == pytest.approx(state.bias, abs=1e-5)
        np.testing.assert_allclose(factors, state.factors, rtol=1e-3, atol=1e-4)
    fan = [p.movie.movie_id for p in engine.recommend(1, 1, 0).items]
    assert fan[0] in ACTION and fan[0] not in ROMANCE


def test_the_option_reaches_every_command_and_the_sagemaker_hyperparameters():
    assert server.parse_args(["--nonnegative"]).params.nonnegative is True
    assert server.parse_args([]).params.nonnegative is False
    assert evaluate.parse_args(["--dataset", DEFAULT_DATASET, "--nonnegative"]).params.nonnegative is True
    assert evaluate.parse_args(["--dataset", DEFAULT_DATASET, "--no-nonnegative"]).params.nonnegative is False
    points = tune.candidates(tune.parse_args(["--ranks", "4", "--reg-params", "0.1", "--nonnegative"]), "rating", {})
    assert points and all(p["nonnegative"] is True for p in points)
    assert parse_hyperparameter("nonnegative", "true") is True and parse_hyperparameter("nonnegative", "False") is False
