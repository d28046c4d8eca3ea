"""What the app's views share: the engine, retrainer and metrics of the current app, and request hooks."""

import time

from flask import current_app, g, request

from recommender.http.parsing import QUERY_FILTERS, filter_errors

ENGINE = "recommendation_engine"
RETRAINER = "retrainer"
METRICS = "metrics"
MODELS = "models"


def engine():
    return current_app.extensions[ENGINE]


def retrainer():
    return current_app.extensions[RETRAINER]


def models():
    """The service's catalog, activation and drift monitor (recommender.service.lifecycle.Service), or None."""
    return current_app.extensions[MODELS]


def metrics():
    return current_app.extensions[METRICS]


def min_ratings_in_force(model=None, asked=None):
    """``asked`` if the request gave it, else this app's DEFAULT_MIN_RATINGS, else the engine's for ``model``."""
    if asked is not None:
        return asked
    configured = current_app.config["DEFAULT_MIN_RATINGS"]
    return engine().min_ratings_in_force(model) if configured is None else configured


def recommend(user_id, count, min_ratings, order="relevance", filters=None, names=QUERY_FILTERS):
    """The engine's Recommendations; the response says the version they came from.

    A filter the model refuses is a 400 naming it as ``names`` spell it.
    """
    with filter_errors(names):
        recommendations = engine().recommend(user_id, count, min_ratings, order, filters)
    g.model_version = recommendations.model_version
    return recommendations


def install_request_hooks(app):
    app.before_request(note_start)
    app.after_request(add_model_version)
    app.after_request(count_request)


def note_start():
    """The start time, and the version this request is answered from (a lower bound: versions only go up)."""
    g.started = time.perf_counter()
    model = engine().model
    g.model_version = None if model is None else model.version


def add_model_version(response):
    if g.get("model_version"):
        response.headers["X-Model-Version"] = g.model_version
    return response


def count_request(response):
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"  # bounded label values
    metrics().observe_request(route, request.method, response.status_code, g.get("started", time.perf_counter()))
    return response
