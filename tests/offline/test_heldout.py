"""Held-out metrics at training: the held-out ratings are never fitted, yet stay the users' own."""

import dataclasses

import numpy as np
import pytest

from recommender.datasets.movielens import load_movielens
from recommender.model.params import ModelParams
from recommender.offline.heldout import Holdout, mean_ndcg, train_measured
from recommender.service.quality_gate import QualityGate
from tests.support.tiny_data import TINY_PARAMS


def test_held_out_ratings_are_measured_then_put_back(spark, tiny_dataset_dir, tiny_model):
    model = train_measured(load_movielens(spark, str(tiny_dataset_dir)), ModelParams(**TINY_PARAMS), Holdout(share=0.2))
    counts, heldout = model.record["counts"], model.record["heldout"]
    assert counts["heldout_ratings"] > 10 and counts["fitted_ratings"] + counts["heldout_ratings"] == counts["ratings"]
    assert counts["ratings"] == len(tiny_model.rated_rows) == 180
    # every rating is the user's own again, and the popular lists count them all
    np.testing.assert_array_equal(model.rated_rows, tiny_model.rated_rows)
    np.testing.assert_array_equal(model.rated_values, tiny_model.rated_values)
    np.testing.assert_array_equal(model.catalog.ratings_count, tiny_model.catalog.ratings_count)
    np.testing.assert_allclose(model.catalog.damped_mean, tiny_model.catalog.damped_mean, rtol=1e-6)
    assert heldout["rated_pairs"] == counts["heldout_ratings"] and heldout["rmse"] < 0.6
    assert heldout["ndcg_at_10"] > heldout["popular_ndcg_at_10"] and heldout["ranking_users"] > 5
    assert (heldout["share"], heldout["seed"]) == (0.2, Holdout().seed)


def test_mean_ndcg_is_binary_relevance_ndcg():
    ranked = {1: [10, 20, 30], 2: [40, 50]}.get
    ndcg = mean_ndcg(ranked, {1: {10}, 2: {50, 60}})
    second = (1 / np.log2(3)) / (1 + 1 / np.log2(3))
    assert ndcg == pytest.approx((1.0 + second) / 2)
    assert mean_ndcg(ranked, {}) is None


def recorded(model, rmse, ndcg):
    return dataclasses.replace(model, record={"heldout": {"rmse": rmse, "ndcg_at_10": ndcg}})


def test_the_gate_allows_small_losses_and_rejects_larger_ones(tiny_model):
    serving = recorded(tiny_model, 0.90, 0.30)
    gate = QualityGate()
    assert gate.rejection(recorded(tiny_model, 0.915, 0.28), serving) is None
    assert "RMSE" in gate.rejection(recorded(tiny_model, 0.93, 0.30), serving)
    assert "NDCG@10" in gate.rejection(recorded(tiny_model, 0.90, 0.26), serving)
    assert QualityGate(enabled=False).rejection(recorded(tiny_model, 5.0, 0.0), serving) is None
    assert gate.rejection(recorded(tiny_model, 5.0, 0.0), tiny_model) is None  # a model without metrics: not judged


def test_evaluate_measures_a_saved_version_without_retraining(spark, tiny_model, tiny_dataset_dir, tmp_path):
    import evaluate
    from recommender.storage.model_store import ModelStore

    saved = ModelStore(tmp_path / "models").save(tiny_model)
    args = evaluate.parse_args(["--model", saved, "--test", str(tiny_dataset_dir / "ratings.csv"), "--json"])
    report = evaluate.run_saved(spark, args)
    assert report["modelVersion"] == tiny_model.version and report["data"]["test_ratings"] == 180
    assert report["model"]["rated_pairs"] == 180 and report["model"]["rmse"] < 0.5  # its own training ratings
    assert "rmse" in evaluate.format_saved(report)
    with pytest.raises(SystemExit):
        evaluate.parse_args(["--model", saved, "--train", "a.csv", "--test", "b.csv"])


def test_ndcg_is_measured_on_a_seeded_sample_when_there_are_many_users():
    from recommender.offline.heldout import sampled

    relevant = {user: {user % 7} for user in range(100)}
    sample = sampled(relevant, 10, seed=3)
    assert len(sample) == 10 and sample == sampled(dict(reversed(relevant.items())), 10, seed=3)
    assert all(relevant[user] == movies for user, movies in sample.items())
    assert sampled(relevant, 10, seed=4) != sample and sampled(relevant, 100, seed=3) is relevant
