"""NumPy scoring on the driver: a user's scores over the catalog and the best rows of them."""

import numpy as np

from recommender.limits import FEW_RATINGS
from recommender.model.genre_blend import few_ratings_scores


def score_rows(model, user, rows):
    """Unclipped scores of catalog ``rows`` for a user with factors."""
    return model.score_offset + user.bias + model.item_bias[rows] + model.item_factors[rows] @ user.factors


def rank_score_rows(model, user, rows):
    """Ranking scores of catalog ``rows`` for a user with ranking factors (genre-blended with few ratings)."""
    if len(user.rows) > FEW_RATINGS:
        return model.rank_item_factors[rows] @ user.rank_factors
    return few_ratings_scores(model, user, model.rank_item_factors @ user.rank_factors)[rows]


def top_rows(scores, count):
    """Rows of the ``count`` highest finite scores, highest first."""
    candidates = np.flatnonzero(np.isfinite(scores))
    if count < len(candidates):
        best = np.argpartition(-scores[candidates], count - 1)[:count]
        candidates = candidates[best]
    return candidates[np.argsort(-scores[candidates], kind="stable")]


def clip_rating(model, score):
    """``score`` clipped to the model's rating scale (implicit scores are preferences: left as they are)."""
    if model.implicit_prefs:
        return float(score)
    low, high = model.rating_scale
    return float(min(max(score, low), high))
