"""Fold-in: a user's bias and factors re-solved against a model's fixed movie side, in NumPy.

These are the half-steps ALS itself takes, so folding in a training user reproduces what
Spark trained for it, and a new rating changes the next read without a retrain.

What a half-step shares between users (the implicit models' Gram matrix ``Y'Y`` over every
movie with factors) is built once per model, by ``prepare`` when the model is swapped in,
so a write pays only for the handful of movies it rates.
"""

import numpy as np

from recommender.model.model_cache import cached
from recommender.model.trained import UserState


def merge_ratings(rows, values, new_rows, new_values):
    """Union of two rating sets by catalog row, the new value winning; sorted by row."""
    merged_rows, first = np.unique(np.concatenate([new_rows, rows]), return_index=True)  # first: the new one
    return merged_rows, np.concatenate([new_values, values])[first]


def fold_in(model, rows, values, new_movie_ids, new_values):
    """A user's state after adding ratings: merged ratings and both models' re-solved factors.

    Ratings of movies ``model``'s catalog lacks are passed over (accepted against another model's).
    """
    new_rows, known = model.catalog.lookup(new_movie_ids)
    return fold_in_rows(model, rows, values, new_rows[known], new_values[known])


def fold_in_rows(model, rows, values, new_rows, new_values):
    """``fold_in`` of ratings already given as ``model``'s catalog rows (a write validated against it)."""
    merged_rows, merged_values = merge_ratings(rows, values, new_rows, new_values)
    bias, factors = fold_in_user(model, merged_rows, merged_values)
    return UserState(merged_rows, merged_values, factors, bias, fold_in_ranking_user(model, merged_rows, merged_values))


def prepare(model):
    """Build what every fold-in against ``model`` shares, so no write pays for it (call before serving)."""
    ranking_gram(model)
    if model.implicit_prefs:
        item_gram(model)


def ranking_gram(model):
    """``Y'Y`` of the ranking model's movie factors, in float64; built once per model."""
    return cached(model, "ranking_gram", lambda: gram_matrix(model.rank_item_factors, model.has_factors))


def item_gram(model):
    """``Y'Y`` of the rating model's movie factors (implicit mode's half-step); built once per model."""
    return cached(model, "item_gram", lambda: gram_matrix(model.item_factors, model.has_factors))


def gram_matrix(item_factors, has_factors):
    """``Y'Y`` over the movies with factors, in float64 as Spark's normal equations are."""
    items = item_factors[has_factors].astype(np.float64)
    return items.T @ items


def fold_in_ranking_user(model, rows, values):
    """A user's ranking-model factors from their ratings: the implicit half-step on their preferences.

    The preference is training's, ``max(rating - ranking_rating_shift, 0)``
    (``recommender.model.training.preference``).
    """
    params = model.params
    preferences = np.maximum(values.astype(np.float64) - params["ranking_rating_shift"], 0.0)
    return solve_implicit_user_factors(
        model.rank_item_factors, model.has_factors, rows, preferences, params["ranking_reg_param"],
        params["ranking_alpha"], gram=ranking_gram(model),
    )


def fold_in_user(model, rows, values):
    """A user's bias and factors from their ratings, against the model's fixed movie side.

    This is how training fits a user: the damped bias over the user's ratings, then
    ALS's half-step on the residuals (or the implicit half-step in implicit mode).

    Returns
    -------
    (float, numpy.ndarray or None)
        The bias and the factors (None when no rated movie has factors).
    """
    params = model.params
    # Models saved before the option existed lack the key: they were trained unconstrained.
    solve = solve_nonnegative if params.get("nonnegative") else np.linalg.solve
    if model.implicit_prefs:
        factors = solve_implicit_user_factors(
            model.item_factors, model.has_factors, rows, values, params["reg_param"], params["alpha"], solve,
            item_gram(model),
        )
        return 0.0, factors
    offsets = values.astype(np.float64) - model.score_offset - model.item_bias[rows]
    bias = float(offsets.sum() / (len(offsets) + params["bias_damping"]))
    factors = solve_user_factors(
        model.item_factors, model.has_factors, rows, offsets - bias, params["reg_param"], solve
    )
    return bias, factors


def solve_user_factors(item_factors, has_factors, rows, values, reg_param, solve=np.linalg.solve):
    """Least-squares user factors against fixed item factors, as one ALS half-step.

    Spark's explicit ALS solves ``(V'V + reg_param * n * I) x = V'r`` over the ``n``
    rated movies that have factors; this is the same system (``solve`` is
    ``solve_nonnegative`` for non-negative ALS). Returns None when no rated movie has factors.
    """
    known = has_factors[rows]
    if not known.any():
        return None
    item = item_factors[rows[known]].astype(np.float64)
    rating = values[known].astype(np.float64)
    gram = item.T @ item
    gram.flat[::gram.shape[0] + 1] += reg_param * len(rating)  # the diagonal, without an identity matrix per write
    return solve(gram, item.T @ rating).astype(np.float32)


def solve_implicit_user_factors(
    item_factors, has_factors, rows, values, reg_param, alpha, solve=np.linalg.solve, gram=None,
):
    """User factors of implicit-feedback ALS against fixed item factors, as Spark solves them.

    Spark solves ``(Y'Y + Y'(C - I)Y + reg_param * n * I) x = Y'Cp`` with confidence
    ``c = 1 + alpha * |r|``, preference ``p = 1`` for ``r > 0``, the Gram matrix over
    every movie with factors and ``n`` the count of positive ratings. ``gram`` is that
    ``Y'Y`` (``gram_matrix``), computed here when not given. Returns None when no rated
    movie has factors.
    """
    known = has_factors[rows]
    if not known.any():
        return None
    item = item_factors[rows[known]].astype(np.float64)
    rating = values[known].astype(np.float64)
    extra = alpha * np.abs(rating)
    positive = rating > 0
    if not positive.any():
        return None  # no regularization without a positive rating, as in training: not personalizable
    if gram is None:
        gram = gram_matrix(item_factors, has_factors)
    system = gram + (item.T * extra) @ item
    system.flat[::system.shape[0] + 1] += reg_param * positive.sum()  # the diagonal
    return solve(system, item[positive].T @ (1.0 + extra[positive])).astype(np.float32)


def solve_nonnegative(gram, rhs):
    """The ``x >= 0`` minimizing ``x'Gx / 2 - rhs'x``: what Spark's NNLS solves for non-negative ALS.

    Lawson and Hanson's active-set method on the normal equations: free the coordinate whose
    gradient most wants to grow, solve on the free set, and step back to the boundary when a
    free coordinate would go negative. ``gram`` is positive definite (ALS regularizes it), so
    the solution is unique and this finds it in at most a few passes per coordinate.
    """
    size = len(rhs)
    x = np.zeros(size)
    free = np.zeros(size, bool)
    tolerance = 1e-12 * max(1.0, float(np.abs(rhs).max()))
    for _ in range(3 * size):
        gradient = rhs - gram @ x
        candidates = ~free & (gradient > tolerance)
        if not candidates.any():
            break
        free[np.argmax(np.where(candidates, gradient, -np.inf))] = True
        while True:
            solution = np.zeros(size)
            solution[free] = np.linalg.solve(gram[np.ix_(free, free)], rhs[free])
            if (solution[free] > 0).all():
                x = solution
                break
            blocking = free & (solution <= 0)
            step = np.min(x[blocking] / np.maximum(x[blocking] - solution[blocking], 1e-300))
            x = x + step * (solution - x)
            free &= x > tolerance
            x[~free] = 0.0
    return x
