"""The tuning grid: which points tune.py tries."""

import pytest

import tune


def test_the_grid_skips_parameters_the_mode_does_not_use():
    explicit = tune.candidates(tune.parse_args(["--ranks", "4,8", "--reg-params", "0.1", "--iterations", "5",
                                                "--bias-dampings", "2,5", "--alphas", "1,10"]))
    assert len(explicit) == 4 and {p["alpha"] for p in explicit} == {1.0}
    assert all(p["implicit_prefs"] is False and p["seed"] == 42 for p in explicit)
    implicit = tune.candidates(tune.parse_args(["--ranks", "4", "--reg-params", "0.1", "--iterations", "5",
                                                "--bias-dampings", "2,5", "--alphas", "1,10", "--implicit"]))
    assert sorted(p["alpha"] for p in implicit) == [1.0, 10.0] and {p["bias_damping"] for p in implicit} == {2.0}


def test_max_trials_draws_a_seeded_sample_of_the_grid():
    argv = ["--ranks", "4,8,16", "--reg-params", "0.05,0.1", "--max-trials", "3"]
    drawn = tune.candidates(tune.parse_args(argv))
    assert len(drawn) == 3 and drawn == tune.candidates(tune.parse_args(argv))


@pytest.mark.parametrize("argv", [["--folds", "1"], ["--ranks", "4,x"], ["--validation-fraction", "1"]])
def test_bad_options_fail_fast(argv):
    with pytest.raises(SystemExit):
        tune.parse_args(argv)
