"""The ``min_ratings`` threshold fitted to a model's data, for when neither request nor operator gives one."""

import numpy as np

from recommender.limits import DEFAULT_MIN_RATINGS, MIN_CANDIDATES
from recommender.model.model_cache import cached


def fitted_min_ratings(ratings_count, wanted=MIN_CANDIDATES, tutorial=DEFAULT_MIN_RATINGS):
    """The tutorial's threshold where at least ``wanted`` movies reach it, else the highest that keeps them.

    A catalog with fewer than ``2 * wanted`` rated movies (a small shop) keeps half of them:
    the tutorial's 25 is a rule for MovieLens, where a popular movie has hundreds of ratings;
    in a catalog of 68 items almost none has 25 buyers, and the list would be empty.
    Never below 1: a movie nobody rated says nothing about anyone.
    """
    counts = np.sort(np.asarray(ratings_count)[np.asarray(ratings_count) > 0])[::-1]
    if len(counts) == 0:
        return 1
    keep = min(wanted, max(1, len(counts) // 2))
    return int(max(1, min(tutorial, counts[keep - 1])))


def model_min_ratings(model):
    """``fitted_min_ratings`` of a TrainedModel's catalog, computed once per model."""
    return cached(model, "fitted_min_ratings", lambda: fitted_min_ratings(model.catalog.ratings_count))
