"""Rating metrics on a hand-computed case, the biased model on planted biases, the evaluation command's paths."""

import json
import math

import numpy as np
import pytest

import evaluate
from tests.support.tiny_data import tiny_ratings
from recommender.storage import params_file
from recommender.datasets.movielens import load_movielens
from recommender.model.live_model import LiveModel
from recommender.model.params import ModelParams
from recommender.model.training import train
from recommender.offline.evaluation import METRIC_KEYS, RANKING_KEYS, clipped, model_frames, rating_metrics
from tests.support.tiny_data import TINY_PARAMS


def test_rating_metrics_of_known_errors(spark):
    predictions = spark.createDataFrame([(4.0, 3.0), (3.0, 5.0), (2.0, 2.0)], "rating DOUBLE, prediction DOUBLE")
    metrics = rating_metrics(predictions)
    assert metrics["rmse"] == pytest.approx(math.sqrt((1 + 4 + 0) / 3))
    assert metrics["mae"] == pytest.approx(1.0)


def planted_ratings(seed=3, users=60, movies=40):
    """Ratings that are the global mean plus a user and a movie bias plus small noise."""
    rng = np.random.default_rng(seed)
    user_bias, movie_bias = rng.normal(0, 0.8, users), rng.normal(0, 0.8, movies)
    rows = []
    for user in range(users):
        for movie in rng.choice(movies, size=25, replace=False):
            rating = 3.0 + user_bias[user] + movie_bias[movie] + rng.normal(0, 0.2)
            rows.append((user + 1, int(movie) + 1, float(np.clip(np.round(rating * 2) / 2, 0.5, 5.0)), 1000))
    return rows


@pytest.fixture(scope="module")
def planted_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("planted")
    rows = planted_ratings()
    (directory / "movies.csv").write_text(
        "movieId,title,genres\n" + "".join(f"{m},Movie {m} (2000),Drama\n" for m in range(1, 41)), encoding="utf-8"
    )
    for name, part in (("train.csv", [r for i, r in enumerate(rows) if i % 5]),
                       ("test.csv", rows[::5])):
        lines = ["userId,movieId,rating,timestamp", *(f"{u},{m},{r},{t}" for u, m, r, t in part)]
        (directory / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def run_evaluate(spark, argv):
    return evaluate.run(spark, evaluate.parse_args(argv))


def test_the_biased_model_beats_the_global_mean_on_planted_biases(spark, planted_dir):
    report = run_evaluate(spark, [
        "--train", str(planted_dir / "train.csv"), "--test", str(planted_dir / "test.csv"),
        "--rank", "2", "--iterations", "5", "--reg-param", "0.1", "--bias-damping", "2",
        "--ranking-rank", "2", "--ranking-iterations", "5",
    ])
    json.dumps(report)  # the --json output must serialize
    assert set(report) >= {"model", "baselines", "params", "counts", "seconds", "data"}
    assert set(report["model"]) == set(METRIC_KEYS)
    assert report["counts"]["test"] == 300 and report["counts"]["test_skipped_pairs"] == 0
    model, baselines = report["model"], report["baselines"]
    assert model["rmse"] < 0.5 * baselines["global_mean"]["rmse"]
    assert baselines["biases"]["rmse"] < 0.5 * baselines["global_mean"]["rmse"]
    assert baselines["most_popular"]["rmse"] is None and baselines["global_mean"]["ndcg_at_10"] is None
    assert model["ndcg_at_10"] > baselines["most_popular"]["ndcg_at_10"]  # it learned the planted movie biases

    assert set(report["orders"]) == {"relevance", "rating"}
    assert all(set(metrics) == {*RANKING_KEYS, "users"} for metrics in report["orders"].values())
    assert {key: model[key] for key in RANKING_KEYS} == {key: report["orders"]["relevance"][key] for key in RANKING_KEYS}


def test_evaluate_rejects_half_a_split_and_an_empty_fraction():
    with pytest.raises(SystemExit):
        evaluate.parse_args(["--train", "a.csv"])
    with pytest.raises(SystemExit):
        evaluate.parse_args(["--test-fraction", "0"])


def test_the_tuned_parameters_file_is_the_defaults_and_is_validated(tmp_path):
    tuned = params_file.load()
    assert tuned, "model_params.json sets no parameters"
    args = evaluate.parse_args([])
    assert {name: getattr(args.params, name) for name in tuned} == tuned
    bad = tmp_path / "bad.json"
    bad.write_text('{"params": {"rank": "ten"}}')
    with pytest.raises(ValueError, match="rank must be int"):
        params_file.load(str(bad))


def test_spark_side_scores_match_what_the_engine_serves(spark, tiny_dataset_dir):
    """Evaluation scores the model in Spark; serving must answer the same predictions."""
    training = train(load_movielens(spark, str(tiny_dataset_dir)), ModelParams(**TINY_PARAMS))
    served_model = LiveModel()
    served_model.swap_model(training.model)
    users, items, score = model_frames(training.model, training.biases)
    rows = users.crossJoin(items).select(
        "userId", "movieId", clipped(score, training.model.rating_scale).alias("prediction")
    ).collect()
    training.biases.unpersist()
    assert len(rows) == 20 * 12
    served = [served_model.predict(row["userId"], row["movieId"]) for row in rows]
    assert all(p.personalized for p in served)
    np.testing.assert_allclose([p.rating for p in served], [row["prediction"] for row in rows], atol=1e-4)
