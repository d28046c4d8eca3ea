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
    """Rows of the ``count`` highest finite scores, highest first (ties: lower row first).

    One partial partition of ``scores`` itself: no sort of the catalog, no copy of it.
    """
    size = len(scores)
    rows = np.argpartition(scores, size - count)[size - count:] if count < size else np.arange(size)
    best = scores[rows]
    if (np.isnan(best) | (best == np.inf)).any():  # NaN and inf sort above every number: rank the finite alone
        return top_rows(np.where(np.isfinite(scores), scores, -np.inf), count)
    lowest = best.min() if len(best) else -np.inf
    if count < size and np.isfinite(lowest):
        rows = np.flatnonzero(scores >= lowest)  # with every row tied at the cut, which the partition picks among
    rows = rows[np.isfinite(scores[rows])]
    return rows[np.lexsort((rows, -scores[rows]))][:count]


def clip_ratings(model, scores):
    """``scores`` clipped to the model's rating scale, as float64 (implicit scores are preferences: left as they are)."""
    scores = np.asarray(scores, np.float64)
    if model.implicit_prefs:
        return scores
    low, high = model.rating_scale
    return np.clip(scores, low, high)
