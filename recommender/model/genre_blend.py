"""The ranking score of a user with few ratings: the ranking model's, blended with genre affinity.

Ten ratings say little to a collaborative model, which answers a fan of ten popular sci-fi
classics with other popular movies (Raiders, Die Hard). For such a user the ranking score
is ``z(factors' dot product) + GENRE_WEIGHT * z(genre affinity)``: the affinity is the
cosine between a movie's genres and the user's liked genres (weighted by the ranking
model's preference of each rating), and ``z`` standardizes over the movies with factors
that the fitted ``min_ratings`` keeps, so the two are on one scale. The weight was chosen on a
validation split of the training data, users cut to ten ratings, among the weights that keep
the genre fan's story (docs/evaluation.md); users with more ratings keep the plain score.
"""

import numpy as np

from recommender.limits import FEW_RATINGS, GENRE_WEIGHT
from recommender.model.model_cache import cached
from recommender.model.thresholds import model_min_ratings


def unit_genres(model):
    """(movies, genres) float32 rows of each movie's genre indicators, unit length (zero for none)."""
    def build():
        names = sorted({genre for genres in model.catalog.genres for genre in genres})
        column = {name: j for j, name in enumerate(names)}
        matrix = np.zeros((len(model.catalog.movie_ids), max(len(names), 1)), np.float32)
        for row, genres in enumerate(model.catalog.genres):
            matrix[row, [column[g] for g in genres]] = 1.0
        return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1.0)

    return cached(model, "unit_genres", build)


def reference_rows(model):
    """The movies the standardization is over: factors and the fitted min_ratings."""
    return cached(
        model, "genre_blend_reference", lambda: model.has_factors & (model.catalog.ratings_count >= model_min_ratings(model)),
    )


def standardized(scores, reference):
    chosen = scores[reference]
    return (scores - chosen.mean()) / (chosen.std() + 1e-9)


def few_ratings_scores(model, user, scores):
    """``scores`` (the plain ranking scores over the catalog) blended for a user with few ratings."""
    if len(user.rows) > FEW_RATINGS:
        return scores
    return genre_blended(model, user, scores, GENRE_WEIGHT)


def genre_blended(model, user, scores, weight):
    """``scores`` standardized plus ``weight`` times the user's standardized genre affinity."""
    preferences = np.maximum(user.ratings.astype(np.float64) - model.params["ranking_rating_shift"], 0.0)
    genres = unit_genres(model)
    profile = preferences @ genres[user.rows]
    length = np.linalg.norm(profile)
    reference = reference_rows(model)
    if length == 0 or not reference.any():
        return scores
    affinity = genres @ (profile / length)
    return standardized(scores, reference) + weight * standardized(affinity, reference)
