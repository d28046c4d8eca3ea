"""Fold-in: a user's bias and factors re-solved against a model's fixed movie side, in NumPy.

These are the half-steps ALS itself takes, so folding in a training user reproduces what
Spark trained for it, and a new rating changes the next read without a retrain.
"""

import numpy as np

from recommender.model.trained import UserState


def merge_ratings(rows, values, new_rows, new_values):
    """Union of two rating sets by catalog row, the new value winning; sorted by row."""
    keep = ~np.isin(rows, new_rows)
    merged_rows = np.concatenate([rows[keep], new_rows])
    merged_values = np.concatenate([values[keep], new_values])
    order = np.argsort(merged_rows, kind="stable")
    return merged_rows[order], merged_values[order]


def fold_in(model, rows, values, new_movie_ids, new_values):
    """A user's state after adding ratings: merged ratings and both models' re-solved factors."""
    merged_rows, merged_values = merge_ratings(rows, values, model.catalog.rows(new_movie_ids), new_values)
    bias, factors = fold_in_user(model, merged_rows, merged_values)
    return UserState(merged_rows, merged_values, factors, bias, fold_in_ranking_user(model, merged_rows, merged_values))


def fold_in_ranking_user(model, rows, values):
    """A user's ranking-model factors from their ratings: the implicit half-step on their preferences.

    The preference is training's, ``max(rating - ranking_rating_shift, 0)``
    (``recommender.model.training.preference``).
    """
    params = model.params
    preferences = np.maximum(values.astype(np.float64) - params["ranking_rating_shift"], 0.0)
    return solve_implicit_user_factors(
        model.rank_item_factors, model.has_factors, rows, preferences, params["ranking_reg_param"],
        params["ranking_alpha"],
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
            model.item_factors, model.has_factors, rows, values, params["reg_param"], params["alpha"], solve
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
    gram = item.T @ item + reg_param * len(rating) * np.eye(item.shape[1])
    return solve(gram, item.T @ rating).astype(np.float32)


def solve_implicit_user_factors(item_factors, has_factors, rows, values, reg_param, alpha, solve=np.linalg.solve):
    """User factors of implicit-feedback ALS against fixed item factors, as Spark solves them.

    Spark solves ``(Y'Y + Y'(C - I)Y + reg_param * n * I) x = Y'Cp`` with confidence
    ``c = 1 + alpha * |r|``, preference ``p = 1`` for ``r > 0``, the Gram matrix over
    every movie with factors and ``n`` the count of positive ratings. Returns None when
    no rated movie has factors.
    """
    known = has_factors[rows]
    if not known.any():
        return None
    all_items = item_factors[has_factors].astype(np.float64)
    item = item_factors[rows[known]].astype(np.float64)
    rating = values[known].astype(np.float64)
    extra = alpha * np.abs(rating)
    positive = rating > 0
    if not positive.any():
        return None  # no regularization without a positive rating, as in training: not personalizable
    gram = all_items.T @ all_items + (item.T * extra) @ item
    gram += reg_param * positive.sum() * np.eye(item.shape[1])
    return solve(gram, item[positive].T @ (1.0 + extra[positive])).astype(np.float32)


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
