"""The evaluation command end to end on the bundled ml-latest-small, with the shipped defaults."""

import os

import pytest

import evaluate

# Measured here with the tuned defaults of params_file.json on this split (80/20, seed 42):
# RMSE 0.8477 on 19,305 pairs; the damped biases alone 0.8634, the global mean 1.0388.
RMSE_BOUND = 0.855


@pytest.fixture(scope="module")
def report(spark, repo_root):
    dataset = os.path.join(repo_root, "data", "ml-latest-small")
    report = evaluate.run(spark, evaluate.parse_args(["--dataset", dataset, "--test-fraction", "0.2", "--seed", "42"]))
    print(evaluate.format_table(report))
    return report


def test_the_default_model_beats_the_baselines_within_the_measured_rmse(report):
    counts, model, baselines = report["counts"], report["model"], report["baselines"]
    assert counts["train"] + counts["test"] == 100836 and counts["test"] > 19_000
    assert counts["test_rated_pairs"] + counts["test_skipped_pairs"] == counts["test"]
    assert model["rmse"] < RMSE_BOUND
    assert model["rmse"] < baselines["biases"]["rmse"] < 0.9 * baselines["global_mean"]["rmse"]
    assert model["mae"] < baselines["biases"]["mae"]
    assert 0 < baselines["most_popular"]["ndcg_at_10"] < 1 and 0 <= model["ndcg_at_10"] <= 1
