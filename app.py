"""The HTTP API: ``create_app`` and the ratings blueprint (top-N, one movie, own ratings, add ratings).

The other routes (health, metrics, the API document, admin, SageMaker's) are blueprints of
``recommender.http``; this module wires them into one app.
"""

import logging

from flask import Blueprint, Flask, current_app, g, jsonify
from werkzeug.exceptions import NotFound

from recommender.http import console_routes, context, discovery_routes, model_routes, sagemaker_routes, system_routes
from recommender.http.auth import read_route, write_route
from recommender.http.config import app_config
from recommender.http.errors import register_error_handlers
from recommender.http.parsing import (
    filters_arg, integer_arg, min_ratings_arg, order_arg, ratings_body, read_body, rejected, user_id_arg,
)
from recommender.http.prometheus import ServiceMetrics
from recommender.http.wire import prediction_json, recommendations_json, user_rating_json
from recommender.limits import MAX_ID
from recommender.model.errors import InvalidRatingError, UnknownMovieError

log = logging.getLogger(__name__)

bp = Blueprint("ratings", __name__)


def create_app(engine, config=None, retrainer=None, models=None):
    """Build the Flask app serving ``engine``, a RecommendationEngine.

    ``config`` overrides the keys of ``recommender.http.config.DEFAULT_CONFIG`` and any
    Flask setting except ``DEBUG``: debug mode would answer errors with tracebacks, so it
    is refused. ``retrainer`` (a Retrainer) is told of new ratings, started by ``POST
    /admin/retrain`` and reported by ``/health``. ``models`` (the Service) gives the model
    catalog, activation and drift routes (404 without it). Until the engine has a model, reads and
    writes answer 503 with ``Retry-After``.
    """
    app = Flask(__name__)
    app.config.update(app_config(config))
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.extensions[context.ENGINE] = engine
    app.extensions[context.RETRAINER] = retrainer
    app.extensions[context.MODELS] = models
    app.extensions[context.METRICS] = ServiceMetrics(engine, retrainer, None if models is None else models.drift)
    context.install_request_hooks(app)
    blueprints = (bp, system_routes.bp, sagemaker_routes.bp, discovery_routes.bp, model_routes.bp, console_routes.bp)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    register_error_handlers(app)
    return app


@bp.get("/<user_id>/ratings/top/<count>")
@read_route
def top_ratings(user_id, count):
    user_id = user_id_arg(user_id)
    count = integer_arg("count", count, 1, current_app.config["MAX_COUNT"])
    min_ratings, order, filters = min_ratings_arg(), order_arg(), filters_arg()
    return jsonify(recommendations_json(context.recommend(user_id, count, min_ratings, order, filters)))


@bp.get("/<user_id>/ratings/<movie_id>")
@read_route
def movie_rating(user_id, movie_id):
    user_id = user_id_arg(user_id)
    movie_id = integer_arg("movie_id", movie_id, 0, MAX_ID)
    try:
        prediction = context.engine().predict(user_id, movie_id)
    except UnknownMovieError as error:
        raise NotFound(str(error)) from None
    return jsonify(
        userId=user_id, personalized=prediction.personalized, modelVersion=g.model_version,
        **prediction_json(prediction),
    )


@bp.get("/<user_id>/ratings")
@read_route
def user_ratings(user_id):
    user_id = user_id_arg(user_id)
    ratings = context.engine().user_ratings(user_id)
    return jsonify(userId=user_id, modelVersion=g.model_version, ratings=[user_rating_json(r) for r in ratings])


@bp.post("/<user_id>/ratings")
@write_route
def add_ratings(user_id):
    """Lines ``movie_id,rating`` (any content type, as curl --data-binary sends them) or JSON."""
    user_id = user_id_arg(user_id)
    labels, ratings = ratings_body(read_body())
    try:
        accepted = context.engine().add_ratings(user_id, ratings)
    except InvalidRatingError as error:
        raise rejected(labels[error.index], error.reason) from None
    log.debug("user %d: %d ratings added", user_id, len(accepted))  # debug: at info, 17% of a POST's interpreter time
    context.metrics().ratings_ingested.inc(len(accepted))
    if context.retrainer() is not None:
        context.retrainer().notify()
    return jsonify(userId=user_id, modelVersion=g.model_version, ratings=[user_rating_json(r) for r in accepted]), 201
