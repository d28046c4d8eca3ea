"""Ranking metrics of the served lists: a known answer, and Spark's RankingEvaluator agreeing with them."""

import pyarrow as pa
import pytest
from pyspark.ml.evaluation import RankingEvaluator

from recommender.offline.served_ranking import most_popular_metrics, served_ranking_metrics
from tests.support.tiny_data import skipped_movie


def held_out(rows):
    users, movies, ratings = zip(*rows)
    return pa.table({"userId": list(users), "movieId": list(movies), "rating": list(ratings)})


def test_the_skipped_movies_held_out_are_a_perfect_top_1(tiny_engine):
    test = held_out([
        (1, skipped_movie(1), 5.0),
        (11, skipped_movie(11), 4.0),
        (12, skipped_movie(12), 3.0),  # not relevant: user 12 is not evaluated
        (424242, 1, 5.0),  # no training ratings: not evaluated
    ])
    catalog = tiny_engine.model.catalog
    counts = dict(zip(catalog.movie_ids.tolist(), catalog.ratings_count.tolist()))

    def popularity_rank(movie):  # 1 + the movies rated more often, or as often with a smaller id
        return 1 + sum(n > counts[movie] or (n == counts[movie] and m < movie) for m, n in counts.items())

    for order in ("relevance", "rating"):
        metrics = served_ranking_metrics(tiny_engine, test, k=1, min_ratings=0, order=order)
        assert metrics == {
            "precision_at_1": 1.0, "recall_at_1": 1.0, "ndcg_at_1": 1.0, "coverage_at_1": 2 / 13,
            "mean_popularity_rank": (popularity_rank(skipped_movie(1)) + popularity_rank(skipped_movie(11))) / 2,
            "users": 2,
        }
    assert served_ranking_metrics(tiny_engine, test, k=1, min_ratings=10_000)["ndcg_at_1"] == 0.0  # empty lists


def test_ndcg_precision_and_recall_agree_with_sparks_ranking_evaluator(spark, tiny_engine):
    relevant = {1: [skipped_movie(1), 8, 9], 2: [7], 11: [skipped_movie(11), 2, 3, 4]}
    test = held_out([(user, movie, 4.5) for user, movies in relevant.items() for movie in movies])
    k = 3
    served = served_ranking_metrics(tiny_engine, test, k=k, min_ratings=0)
    lists = [
        ([float(m) for m in movies], [float(p.movie.movie_id) for p in tiny_engine.recommend(user, k, 0).items])
        for user, movies in relevant.items()
    ]
    frame = spark.createDataFrame(lists, "label ARRAY<DOUBLE>, prediction ARRAY<DOUBLE>")
    for name in ("precision", "recall", "ndcg"):
        expected = RankingEvaluator(metricName=f"{name}AtK", k=k).evaluate(frame)
        assert served[f"{name}_at_{k}"] == pytest.approx(expected)
    assert 0 < served["ndcg_at_3"] < 1


def test_most_popular_recommends_the_most_rated_movies(tiny_engine):
    test = held_out([(user, skipped_movie(user), 5.0) for user in range(1, 21)])
    popular = most_popular_metrics(tiny_engine.model, test, k=3)
    served = served_ranking_metrics(tiny_engine, test, k=3, min_ratings=0)
    assert popular["users"] == served["users"] == 20
    assert served["ndcg_at_3"] == 1.0 > popular["ndcg_at_3"]
