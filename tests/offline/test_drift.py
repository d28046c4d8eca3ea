"""Drift on planted data: the same distribution says no retrain; a shifted mean, a changed
histogram or a model far off on the new ratings says retrain."""

import dataclasses
import json

import numpy as np
import pytest

import drift
from recommender.http.wire import drift_json
from recommender.offline.drift import DriftThresholds, drift_report, kl_divergence, reference_of
from recommender.offline.heldout import RatingArrays
from recommender.storage.model_store import ModelStore


def sample(model, count, seed=3):
    """``count`` of the model's own training ratings, drawn with replacement: the same distribution."""
    users, movies, values = reference_of(model)
    picked = np.random.default_rng(seed).integers(0, len(values), count)
    return RatingArrays(users[picked], movies[picked], values[picked].copy())


def test_a_sample_of_the_training_distribution_says_no_retrain(tiny_model):
    report = drift_report(tiny_model, sample(tiny_model, 2000))
    assert not report.retrain and report.reasons == []
    assert report.kl_divergence < 0.05 and report.mean_shift < 0.1 and report.score < 0.5
    assert report.new_users_share == 0 and report.new_movies_share == 0
    assert sum(report.reference.histogram) == len(tiny_model.rated_values) and sum(report.current.histogram) == 2000


def test_a_shifted_mean_says_retrain(tiny_model):
    current = sample(tiny_model, 2000)
    shifted = dataclasses.replace(current, ratings=np.clip(current.ratings - 0.5, 1.0, 5.0))
    report = drift_report(tiny_model, shifted)
    assert report.retrain and report.mean_shift > 0.4
    assert report.reasons[0].startswith("data drift score")


def planted(values):
    values = np.asarray(values, np.float32)
    return RatingArrays(np.arange(len(values)), np.ones(len(values), np.int64), values)


def test_a_changed_histogram_with_the_same_mean_and_median_says_retrain(tiny_model):
    reference = planted([2.0] * 400 + [3.0] * 400 + [4.0] * 400)
    same = planted([2.0] * 130 + [3.0] * 140 + [4.0] * 130)
    polarized = planted([2.0] * 495 + [3.0] * 10 + [4.0] * 495)
    assert not drift_report(tiny_model, same, reference).retrain
    report = drift_report(tiny_model, polarized, reference)
    assert report.mean_shift == 0 and report.median_shift == 0
    assert report.kl_divergence > 0.3 and report.retrain


def test_a_model_far_off_on_the_new_ratings_says_retrain(tiny_model):
    model = dataclasses.replace(tiny_model, record={"heldout": {"rmse": 0.3, "mae": 0.2}})
    users, movies, values = reference_of(model)
    shuffled = np.random.default_rng(5).permutation(values)  # the same histogram, on the wrong pairs
    current = RatingArrays(np.tile(users, 3), np.tile(movies, 3), np.tile(shuffled, 3))
    report = drift_report(model, current)
    assert report.score < 0.1  # no data drift at all
    assert report.model["rmse"] > 1.0 and report.retrain
    assert "RMSE on the newer ratings" in report.reasons[0]


def test_too_few_new_ratings_never_say_retrain(tiny_model):
    current = sample(tiny_model, 50)
    shifted = dataclasses.replace(current, ratings=np.full(50, 1.0, np.float32))
    assert not drift_report(tiny_model, shifted, thresholds=DriftThresholds(min_ratings=100)).retrain
    assert drift_report(tiny_model, shifted, thresholds=DriftThresholds(min_ratings=10)).retrain


def test_smoothing_keeps_an_empty_bin_finite():
    assert np.isfinite(kl_divergence(np.array([10, 0]), np.array([0, 10])))
    assert kl_divergence(np.array([5, 5]), np.array([50, 50])) == pytest.approx(0.0)


def write_csv(path, users, movies, values):
    lines = ["userId,movieId,rating,timestamp", *(f"{u},{m},{r},1" for u, m, r in zip(users, movies, values))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_drift_command_reads_a_csv_and_parquet_and_says_retrain_by_exit_code(spark, tiny_model, tmp_path):
    saved = ModelStore(tmp_path / "models").save(tiny_model)
    current = sample(tiny_model, 600)
    same = write_csv(tmp_path / "same.csv", current.users, current.movies, current.ratings)
    args = drift.parse_args(["--model", saved, "--current", str(same), "--json"])
    report = drift.run(spark, args)
    assert not report.retrain and report.current.ratings == 600
    frame = spark.createDataFrame(
        [(int(u), int(m), float(max(r - 1.0, 1.0))) for u, m, r in zip(current.users, current.movies, current.ratings)],
        "userId INT, movieId INT, rating DOUBLE",
    )
    frame.write.parquet(str(tmp_path / "shifted"))
    shifted = drift.run(spark, drift.parse_args(["--model", saved, "--current", str(tmp_path / "shifted")]))
    assert shifted.retrain and json.loads(json.dumps(drift_json(shifted)))["retrain"] is True
    assert "RETRAIN" in drift.format_report(shifted)


def test_drift_command_fails_with_one_line_on_a_missing_file(tiny_model, tmp_path, capsys):
    saved = ModelStore(tmp_path / "models").save(tiny_model)
    with pytest.raises(SystemExit):
        drift.parse_args(["--model", saved, "--current", "x.csv", "--drift-kl", "0"])
    assert "--drift-kl must be above 0" in capsys.readouterr().err
