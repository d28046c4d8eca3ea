"""SageMaker's training job before Spark: hyperparameters and input channels on a temporary /opt/ml."""

import os

import pytest

from recommender.offline.sagemaker_training import find_channel, main, prepare, read_hyperparameters
from recommender.storage import params_file
from tests.support.sagemaker_layout import ml_layout, read_text


def test_string_hyperparameters_get_model_params_types_over_the_tuned_defaults(tmp_path):
    layout = ml_layout(tmp_path, {
        "rank": "4", "iterations": "10", "reg_param": "0.05", "implicit_prefs": "True", "alpha": "2",
        "_tuning_objective_metric": "rmse", "sagemaker_region": "eu-west-1",  # SageMaker's own: ignored
    }, channels=())
    params = read_hyperparameters(layout.hyperparameters)
    assert params == {
        **params_file.tuned_params().as_dict(),
        "rank": 4, "iterations": 10, "reg_param": 0.05, "implicit_prefs": True, "alpha": 2.0,
    }
    assert [type(params[name]) for name in ("rank", "reg_param", "implicit_prefs", "alpha")] == [int, float, bool, float]


def test_no_hyperparameters_file_means_the_tuned_parameters(tmp_path):
    assert read_hyperparameters(str(tmp_path / "hyperparameters.json")) == params_file.tuned_params().as_dict()


@pytest.mark.parametrize(
    "hyperparameters, fragments",
    [
        ({"rank": "four"}, ["rank", "an integer", "'four'"]),
        ({"iterations": "2.5"}, ["iterations", "'2.5'"]),
        ({"reg_param": "nan"}, ["reg_param", "finite number", "'nan'"]),
        ({"implicit_prefs": "yes"}, ["implicit_prefs", "true or false", "'yes'"]),
        ({"rank": "0"}, ["rank", "positive integer", "0"]),  # parses, but the engine refuses it
        ({"bias_damping": "-1"}, ["bias_damping", ">= 0"]),
        ({"ranks": "4"}, ["unknown hyperparameter 'ranks'", "rank"]),
        ('{"rank": "4"', ["hyperparameters.json", "not readable JSON"]),
        ('["rank", "4"]', ["JSON object"]),
    ],
)
def test_a_bad_hyperparameter_fails_the_job_naming_it(tmp_path, hyperparameters, fragments):
    layout = ml_layout(tmp_path, hyperparameters)
    assert main(["--ml-root", layout.root]) == 1  # fails before any Spark session starts
    failure = read_text(layout.failure)
    for fragment in fragments:
        assert fragment in failure
    assert not os.path.exists(layout.model)


@pytest.mark.parametrize(
    "channels, fragments",
    [
        ((), ["no input channel 'training'", "channels: none"]),
        (("train", "validation"), ["no input channel 'training'", "train, validation", "exactly one"]),
    ],
)
def test_a_missing_channel_fails_the_job_naming_it(tmp_path, channels, fragments):
    layout = ml_layout(tmp_path, {"rank": "4"}, channels)
    assert main(["--ml-root", layout.root]) == 1
    failure = read_text(layout.failure)
    for fragment in fragments:
        assert fragment in failure


def test_the_training_channel_or_else_the_only_one_is_used(tmp_path):
    several = ml_layout(tmp_path / "several", channels=("test", "training", "validation"))
    assert find_channel(several.channels) == os.path.join(several.channels, "training")
    single = ml_layout(tmp_path / "single", channels=("ratings",))
    assert find_channel(single.channels) == os.path.join(single.channels, "ratings")
    _, data_dir = prepare(single)
    assert data_dir == os.path.join(single.channels, "ratings")


def test_a_channel_without_movies_csv_fails_naming_the_file(tmp_path):
    layout = ml_layout(tmp_path, channels=("training",))
    os.remove(os.path.join(layout.channels, "training", "movies.csv"))
    assert main(["--ml-root", layout.root]) == 1
    assert "input channel 'training' has no movies.csv" in read_text(layout.failure)

