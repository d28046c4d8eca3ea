"""Training: the statistics computed on the driver are Spark's, and the two concurrent ALS fits are
the fits one after the other."""

import logging

import numpy as np
from pyspark.sql import functions as F

from recommender.datasets.movielens import load_movielens
from recommender.model import training
from recommender.model.params import ModelParams
from recommender.model.training import fit_biases, train
from recommender.offline.heldout import HASH_BUCKETS, Holdout
from tests.support.tiny_data import TINY_PARAMS


def one_after_the_other(frames, summary, params):
    rating_input, ranking_input = frames
    return training.train_als(rating_input, summary, params), training.train_ranking_als(ranking_input, params)


def test_the_concurrent_fits_give_the_models_the_fits_one_after_the_other_give(spark, tiny_dataset_dir, monkeypatch):
    dataset = load_movielens(spark, str(tiny_dataset_dir))
    concurrent = train(dataset, ModelParams(**TINY_PARAMS)).model
    monkeypatch.setattr(training, "fit_both", one_after_the_other)
    sequential = train(dataset, ModelParams(**TINY_PARAMS)).model
    for name in ("item_factors", "user_factors", "rank_item_factors", "rank_user_factors"):
        np.testing.assert_allclose(getattr(concurrent, name), getattr(sequential, name), rtol=1e-3, atol=1e-4)
    assert np.isfinite(concurrent.rank_user_factors).all() and concurrent.has_factors.sum() == 12


def test_the_driver_biases_and_statistics_are_sparks(spark, tiny_dataset_dir, tiny_model):
    ratings = load_movielens(spark, str(tiny_dataset_dir)).ratings
    biases = fit_biases(ratings, TINY_PARAMS.get("bias_damping", ModelParams().bias_damping))
    try:
        users = {row.userId: row.user_bias for row in biases.users.collect()}
        movies = {row.movieId: row.movie_bias for row in biases.movies.collect()}
    finally:
        biases.unpersist()
    assert tiny_model.score_offset == biases.global_mean
    np.testing.assert_allclose(tiny_model.user_bias, [users[u] for u in tiny_model.user_ids], atol=1e-6)
    rated = tiny_model.catalog.ratings_count > 0
    expected = [movies[m] for m in tiny_model.catalog.movie_ids[rated]]
    np.testing.assert_allclose(tiny_model.item_bias[rated], expected, atol=1e-6)
    per_movie = {row.movieId: (row.n, row.first) for row in ratings.groupBy("movieId").agg(
        F.count(F.lit(1)).alias("n"), F.min("timestamp").alias("first")).collect()}
    catalog = tiny_model.catalog
    assert [per_movie.get(m, (0, -1)) for m in catalog.movie_ids] == list(zip(catalog.ratings_count, catalog.first_rated))


def test_the_held_out_pairs_are_the_hash_bucket_of_users_with_enough_ratings(spark, tiny_dataset_dir):
    ratings = load_movielens(spark, str(tiny_dataset_dir)).ratings  # every user has 9
    per_user = ratings.groupBy("userId").agg(F.count(F.lit(1)).alias("n"))
    bucket = F.pmod(F.xxhash64("userId", "movieId", F.lit(Holdout().seed)), F.lit(HASH_BUCKETS))
    for min_user_ratings, some_held in ((9, True), (10, False)):
        holdout = Holdout(share=0.2, min_user_ratings=min_user_ratings)
        expected = ratings.join(per_user, "userId").filter((F.col("n") >= min_user_ratings) & (bucket < 0.2 * HASH_BUCKETS))
        users, movies, values = train(load_movielens(spark, str(tiny_dataset_dir)), ModelParams(**TINY_PARAMS),
                                      holdout=holdout).heldout
        assert sorted(zip(users.tolist(), movies.tolist())) == sorted((r.userId, r.movieId) for r in expected.collect())
        assert (len(users) > 10) == some_held


def test_each_long_stage_is_logged_with_its_time(spark, tiny_dataset_dir, caplog):
    with caplog.at_level(logging.INFO, logger="recommender.model.training"):
        train(load_movielens(spark, str(tiny_dataset_dir)), ModelParams(**TINY_PARAMS))
    done = [record.getMessage() for record in caplog.records if " done (" in record.getMessage()]
    for stage in ("reading the ratings", "statistics of 180 ratings", "training the rating ALS",
                  "training the ranking ALS", "copying the factors to the driver"):
        assert any(message.startswith(stage) and message.endswith("s)") for message in done), stage


def test_the_ranking_als_fits_only_positive_preferences_and_the_zero_rows_change_no_factor(
        spark, tiny_dataset_dir, monkeypatch):
    params = ModelParams(**TINY_PARAMS)
    dataset = load_movielens(spark, str(tiny_dataset_dir))
    inputs = []
    fit_both = training.fit_both
    monkeypatch.setattr(training, "fit_both", lambda frames, *args: inputs.append(frames) or fit_both(frames, *args))
    train(dataset, params)
    ranking_input = inputs[0][1]
    preferences = [row.preference for row in ranking_input.collect()]
    above_shift = dataset.ratings.filter(F.col("rating") > params.ranking_rating_shift).count()
    assert len(preferences) == above_shift and min(preferences) > 0
    # every user and movie of the tiny data has a rating above the shift: the same ids either way
    with_zero_rows = dataset.ratings.select(
        "userId", "movieId", training.preference(F.col("rating"), params.ranking_rating_shift).alias("preference"))
    assert with_zero_rows.count() > above_shift
    fitted, unfiltered = (training.train_ranking_als(frame, params) for frame in (ranking_input, with_zero_rows))
    for name in ("userFactors", "itemFactors"):
        (ids, factors), (all_ids, all_factors) = (
            sorted_factors(getattr(model, name), params.ranking_rank) for model in (fitted, unfiltered))
        np.testing.assert_array_equal(ids, all_ids)
        np.testing.assert_allclose(factors, all_factors, rtol=1e-5, atol=1e-6)


def sorted_factors(frame, rank):
    ids, factors = training.factors_to_numpy(frame, rank)
    order = np.argsort(ids)
    return ids[order], factors[order]
