"""Ranking metrics of what the service serves: each evaluated user's top-N from ``LiveModel.recommend``.

The lists come from the same code path and defaults as ``GET /<user>/ratings/top/<count>``
(the ``min_ratings`` filter, the user's rated movies excluded), so the NDCG measured is the
served NDCG. Evaluated users are the test users with training ratings and at least one
relevant test rating (>= ``RELEVANT_RATING``); relevance is binary. Everything runs on the
driver in NumPy: the held-out ratings are read once.
"""

import numpy as np

from recommender.limits import RELEVANT_RATING
from recommender.model.scoring import top_rows

K = 10


def served_ranking_metrics(live_model, test, k=K, min_ratings=None, order="relevance"):
    """Precision, recall, NDCG, coverage and popularity of the served top-``k`` lists.

    Parameters
    ----------
    live_model : recommender.model.live_model.LiveModel
        Serving a model trained on the training ratings only (they are its users' rated
        movies, excluded from their lists).
    test : pyspark.sql.DataFrame or pyarrow.Table
        Held-out ratings ``userId, movieId, rating``.
    k, min_ratings : int
        The list length and the top-N route's ``min_ratings`` (None: its default, the threshold in force).
    order : str
        ``relevance`` or ``rating``, as ``LiveModel.recommend`` takes it.

    Returns
    -------
    dict
        ``precision_at_{k}``, ``recall_at_{k}``, ``ndcg_at_{k}``, ``coverage_at_{k}``,
        ``mean_popularity_rank`` and ``users`` (the number evaluated).
    """
    model = live_model.model
    relevant = relevant_movies(model, test)
    lists = {
        user: [p.movie.movie_id for p in live_model.recommend(user, k, min_ratings, order).items]
        for user in relevant
    }
    return list_metrics(model, lists, relevant, k)


def most_popular_metrics(model, test, k=K):
    """The same metrics for the most-popular baseline: most training ratings first, the user's own excluded."""
    relevant = relevant_movies(model, test)
    popularity = model.catalog.ratings_count.astype(np.float64)
    popularity = np.where(popularity > 0, popularity, -np.inf)
    lists = {}
    for user in relevant:
        scores = popularity.copy()
        scores[model.user(user).rows] = -np.inf
        lists[user] = model.catalog.movie_ids[top_rows(scores, k)].tolist()
    return list_metrics(model, lists, relevant, k)


def relevant_movies(model, test):
    """``{user_id: set of relevant test movie ids}`` of the test users the model has training ratings of."""
    table = test.select("userId", "movieId", "rating").toArrow() if hasattr(test, "toArrow") else test
    users = table.column("userId").to_numpy().astype(np.int64)
    movies = table.column("movieId").to_numpy().astype(np.int64)
    keep = (table.column("rating").to_numpy() >= RELEVANT_RATING) & np.isin(users, model.user_ids)
    relevant = {}
    for user, movie in zip(users[keep].tolist(), movies[keep].tolist()):
        relevant.setdefault(user, set()).add(movie)
    return dict(sorted(relevant.items()))


def list_metrics(model, lists, relevant, k):
    """Mean metrics of ``lists`` (``{user: movie ids, best first}``) against ``relevant`` (``{user: set}``)."""
    if not relevant:
        raise ValueError("no test user with training ratings has a relevant test rating: ranking metrics are undefined")
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    precision, recall, ndcg = [], [], []
    for user, wanted in relevant.items():
        hits = np.array([movie in wanted for movie in lists[user][:k]], bool)
        ideal = discounts[:min(len(wanted), k)].sum()
        precision.append(hits.sum() / k)
        recall.append(hits.sum() / len(wanted))
        ndcg.append(discounts[:len(hits)][hits].sum() / ideal)
    recommended = np.concatenate([np.asarray(movies, np.int64) for movies in lists.values()])
    rank = popularity_rank(model.catalog.ratings_count)
    return {
        f"precision_at_{k}": float(np.mean(precision)),
        f"recall_at_{k}": float(np.mean(recall)),
        f"ndcg_at_{k}": float(np.mean(ndcg)),
        f"coverage_at_{k}": len(np.unique(recommended)) / len(model.catalog.movie_ids),
        "mean_popularity_rank": float(rank[model.catalog.rows(recommended)].mean()) if len(recommended) else None,
        "users": len(relevant),
    }


def popularity_rank(ratings_count):
    """Each catalog row's place in the most-rated order: 1 for the movie with the most ratings."""
    rank = np.empty(len(ratings_count), np.int64)
    rank[np.argsort(-ratings_count, kind="stable")] = np.arange(1, len(ratings_count) + 1)
    return rank
