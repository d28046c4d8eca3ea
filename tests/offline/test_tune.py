"""The tuning grid: which points tune.py tries."""

import pytest

import tune


def test_each_search_varies_its_own_models_parameters_over_the_fixed_ones():
    args = tune.parse_args(["--ranks", "4,8", "--reg-params", "0.1", "--iterations", "5", "--bias-dampings", "2",
                            "--ranking-ranks", "8,16", "--ranking-alphas", "1,2", "--ranking-reg-params", "0.2"])
    fixed = {"rank": 3, "ranking_rank": 5, "popularity_damping": 7.0}
    rating = tune.candidates(args, "rating", fixed)
    assert sorted(p["rank"] for p in rating) == [4, 8] and {p["ranking_rank"] for p in rating} == {5}
    ranking = tune.candidates(args, "ranking", fixed)
    assert sorted((p["ranking_rank"], p["ranking_alpha"]) for p in ranking) == [(8, 1), (8, 2), (16, 1), (16, 2)]
    assert {p["rank"] for p in ranking} == {3} and all(p["seed"] == 42 and p["popularity_damping"] == 7.0
                                                       for p in [*rating, *ranking])
    assert tune.parse_args([]).search is None and tune.parse_args(["--search", "ranking"]).search == ["ranking"]


def test_max_trials_draws_a_seeded_sample_of_the_grid():
    argv = ["--ranks", "4,8,16", "--reg-params", "0.05,0.1", "--max-trials", "3"]
    drawn = tune.candidates(tune.parse_args(argv), "rating", {})
    assert len(drawn) == 3 and drawn == tune.candidates(tune.parse_args(argv), "rating", {})


@pytest.mark.parametrize("argv", [["--folds", "1"], ["--ranks", "4,x"], ["--validation-fraction", "1"], ["--search", "speed"]])
def test_bad_options_fail_fast(argv):
    with pytest.raises(SystemExit):
        tune.parse_args(argv)
