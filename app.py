"""The HTTP API: a Flask blueprint over a RecommendationEngine, and its app factory."""

import functools
import hmac
import logging
import re
import time

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import (
    BadRequest,
    Forbidden,
    HTTPException,
    NotFound,
    RequestEntityTooLarge,
    ServiceUnavailable,
    Unauthorized,
)

import openapi
from dataset import MAX_ID
from engine import InvalidRatingError, NotFittedError, UnknownMovieError
from metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from metrics import ServiceMetrics

log = logging.getLogger(__name__)

DEFAULT_CONFIG = {
    "MAX_CONTENT_LENGTH": 1024 * 1024,  # bytes of a POST body; larger gets 413
    "MAX_LINES": 1000,  # ratings in one POST; more gets 400
    "MAX_COUNT": 1000,  # largest count of the top-N route
    "MAX_BATCH_USERS": 100,  # most userIds in one POST /invocations
    "DEFAULT_MIN_RATINGS": 25,  # as in the tutorial this service grew from
    "API_KEYS": (),  # bearer keys that writes need; empty leaves writes open and /admin disabled
    "PROTECT_READS": False,  # data reads need a key too (probes, metrics and the API document stay open)
    "RETRY_AFTER": 5,  # seconds, told to clients while the model is loading
}

INTEGER = re.compile(r"\d{1,12}", re.ASCII)  # longer is out of range anyway; int() refuses huge texts
NUMBER = re.compile(r"[+-]?(\d{1,12}(\.\d{0,20})?|\.\d{1,20})", re.ASCII)

bp = Blueprint("ratings", __name__)


def create_app(engine, config=None, retrainer=None):
    """Build the Flask app serving ``engine``, a RecommendationEngine.

    ``config`` overrides the keys of ``DEFAULT_CONFIG`` and any Flask setting except
    ``DEBUG``: debug mode would answer errors with tracebacks, so it is refused.
    ``retrainer`` (a retraining.Retrainer) is told of new ratings, started by
    ``POST /admin/retrain`` and reported by ``/health``. Until the engine has a
    model, reads and writes answer 503 with ``Retry-After``.
    """
    config = dict(config or {})
    if config.get("DEBUG"):
        raise ValueError("debug mode is not supported: it would show tracebacks to clients")
    app = Flask(__name__)
    app.config.update(DEFAULT_CONFIG)
    app.config.update(config)
    app.config.update(DEBUG=False, PROPAGATE_EXCEPTIONS=False)  # whatever FLASK_DEBUG says
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.extensions["recommendation_engine"] = engine
    app.extensions["retrainer"] = retrainer
    app.extensions["metrics"] = ServiceMetrics(engine, retrainer)
    app.register_blueprint(bp)
    from sagemaker_container import bp as sagemaker_bp  # not at the top: it imports this module
    app.register_blueprint(sagemaker_bp)  # /ping and /invocations
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(RequestEntityTooLarge, too_large)
    app.register_error_handler(NotFittedError, not_ready)
    app.register_error_handler(Exception, unexpected_error)
    return app


@bp.before_app_request
def note_start():
    """The start time, and the version this request is answered from (a lower bound: versions only go up)."""
    g.started = time.perf_counter()
    model = engine().model
    g.model_version = None if model is None else model.version


@bp.after_app_request
def add_model_version(response):
    if g.get("model_version"):
        response.headers["X-Model-Version"] = g.model_version
    return response


@bp.after_app_request
def count_request(response):
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"  # bounded label values
    metrics().observe_request(route, request.method, response.status_code, g.get("started", time.perf_counter()))
    return response


def http_error(error):
    response = error.get_response()
    response.data = current_app.json.dumps({"error": error.description})
    response.content_type = "application/json"
    return response


def too_large(error):
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    return http_error(RequestEntityTooLarge(f"the request body is over the limit of {limit} bytes"))


def not_ready(error):
    unavailable = ServiceUnavailable("the model is still loading; retry shortly")
    response = http_error(unavailable)
    response.headers["Retry-After"] = str(current_app.config["RETRY_AFTER"])
    return response


def unexpected_error(error):
    log.exception("unhandled error on %s %s", request.method, request.path)
    return jsonify(error="internal server error"), 500


def engine():
    return current_app.extensions["recommendation_engine"]


def retrainer():
    return current_app.extensions["retrainer"]


def metrics():
    return current_app.extensions["metrics"]


def check_api_key():
    """401 unless ``Authorization: Bearer <key>`` names one of the configured API keys."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    given = given.strip().encode()
    # Every key is compared, each in constant time, so timing tells neither which key nor how much matched.
    matches = [hmac.compare_digest(given, key.encode()) for key in current_app.config["API_KEYS"]]
    if scheme.lower() != "bearer" or not any(matches):
        raise Unauthorized(
            "a valid 'Authorization: Bearer <API key>' header is required", www_authenticate=WWWAuthenticate("bearer")
        )


def write_route(view):
    """The view changes state: it needs an API key whenever keys are configured."""
    @functools.wraps(view)
    def checked(*args, **kwargs):
        if current_app.config["API_KEYS"]:
            check_api_key()
        return view(*args, **kwargs)
    return checked


def read_route(view):
    """The view reads data: it needs an API key when keys are configured and PROTECT_READS is set."""
    @functools.wraps(view)
    def checked(*args, **kwargs):
        if current_app.config["API_KEYS"] and current_app.config["PROTECT_READS"]:
            check_api_key()
        return view(*args, **kwargs)
    return checked


def integer_arg(name, text, low, high):
    """``text`` as an int in ``[low, high]``, or 400 naming the parameter."""
    if not (INTEGER.fullmatch(text) and low <= int(text) <= high):
        raise BadRequest(f"{name} must be an integer from {low} to {high}, got {text!r}")
    return int(text)


def user_id_arg(text):
    return integer_arg("user_id", text, 0, MAX_ID)


def movie_json(movie):
    return {"movieId": movie.movie_id, "title": movie.title, "genres": list(movie.genres)}


def prediction_json(prediction):
    return {
        **movie_json(prediction.movie),
        "predictedRating": round(prediction.rating, 4),
        "ratingsCount": prediction.movie.ratings_count,
    }


def user_rating_json(user_rating):
    return {"movieId": user_rating.movie.movie_id, "title": user_rating.movie.title, "rating": round(user_rating.rating, 4)}


@bp.get("/<user_id>/ratings/top/<count>")
@read_route
def top_ratings(user_id, count):
    user_id = user_id_arg(user_id)
    count = integer_arg("count", count, 1, current_app.config["MAX_COUNT"])
    min_ratings = request.args.get("min_ratings", str(current_app.config["DEFAULT_MIN_RATINGS"]))
    min_ratings = integer_arg("min_ratings", min_ratings, 0, MAX_ID)
    return jsonify(recommendations_json(user_id, count, min_ratings))


def recommendations_json(user_id, count, min_ratings):
    """The top-``count`` body for one user: the shape every recommendation route answers with."""
    recommendations = engine().recommend(user_id, count, min_ratings)
    g.model_version = recommendations.model_version
    return {
        "userId": user_id,
        "personalized": recommendations.personalized,
        "modelVersion": recommendations.model_version,
        "recommendations": [prediction_json(p) for p in recommendations.items],
    }


@bp.get("/<user_id>/ratings/<movie_id>")
@read_route
def movie_rating(user_id, movie_id):
    user_id = user_id_arg(user_id)
    movie_id = integer_arg("movie_id", movie_id, 0, MAX_ID)
    try:
        prediction = engine().predict(user_id, movie_id)
    except UnknownMovieError as error:
        raise NotFound(str(error)) from None
    return jsonify(
        userId=user_id,
        personalized=prediction.personalized,
        modelVersion=g.model_version,
        **prediction_json(prediction),
    )


@bp.get("/<user_id>/ratings")
@read_route
def user_ratings(user_id):
    user_id = user_id_arg(user_id)
    ratings = engine().user_ratings(user_id)
    return jsonify(userId=user_id, modelVersion=g.model_version, ratings=[user_rating_json(r) for r in ratings])


@bp.post("/<user_id>/ratings")
@write_route
def add_ratings(user_id):
    """Lines ``movie_id,rating`` (any content type, as curl --data-binary sends them) or JSON."""
    user_id = user_id_arg(user_id)
    body = read_body()
    if request.mimetype == "application/json":
        labels, ratings = parse_json_ratings(body)
    else:
        labels, ratings = parse_text_ratings(body)
    try:
        accepted = engine().add_ratings(user_id, ratings)
    except InvalidRatingError as error:
        raise rejected(labels[error.index], error.reason) from None
    log.info("user %d: %d ratings added", user_id, len(accepted))
    metrics().ratings_ingested.inc(len(accepted))
    if retrainer() is not None:
        retrainer().notify()
    return jsonify(userId=user_id, modelVersion=g.model_version, ratings=[user_rating_json(r) for r in accepted]), 201


def read_body():
    """The request body; 413 when it is over MAX_CONTENT_LENGTH, chunked bodies included."""
    body = request.get_data(cache=False)
    if len(body) >= current_app.config["MAX_CONTENT_LENGTH"]:
        # Werkzeug stops reading a chunked body at the limit without a word; only a read past
        # it raises 413. Without this, a long body cut at a line end would be half applied.
        request.stream.read(1)
    return body


def rejected(label, reason):
    return BadRequest(f"{label}: {reason}; nothing was applied")


def parse_text_ratings(body):
    """Labels (``line N``) and (movie_id, rating) pairs from a body of ``movie_id,rating`` lines."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8 text") from None
    labels, ratings = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        check_batch_size(len(ratings) + 1, "lines")
        label = f"line {number}"
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != 2:
            raise rejected(label, f"expected 'movie_id,rating', got {line.strip()[:100]!r}")
        movie_id, rating = fields
        if not (INTEGER.fullmatch(movie_id) and int(movie_id) <= MAX_ID):
            raise rejected(label, f"movie id {movie_id[:100]!r} is not an integer from 0 to {MAX_ID}")
        if not NUMBER.fullmatch(rating):
            raise rejected(label, f"rating {rating[:100]!r} is not a number")
        labels.append(label)
        ratings.append((int(movie_id), float(rating)))
    if not ratings:
        raise BadRequest("the body has no ratings: send lines 'movie_id,rating'")
    return labels, ratings


def check_batch_size(size, unit):
    limit = current_app.config["MAX_LINES"]
    if size > limit:
        raise BadRequest(f"the body has more than {limit} ratings {unit}; send at most {limit} per request")


def parse_json_ratings(body):
    """Labels (``item N``) and pairs from a JSON list of ``{"movieId": .., "rating": ..}``."""
    try:
        items = current_app.json.loads(body)
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(items, list) or not items:
        raise BadRequest('the body must be a non-empty JSON list of {"movieId": int, "rating": number}')
    check_batch_size(len(items), "items")
    labels, ratings = [], []
    for number, item in enumerate(items, start=1):
        label = f"item {number}"
        if not isinstance(item, dict):
            raise rejected(label, 'expected {"movieId": int, "rating": number}')
        movie_id, rating = item.get("movieId"), item.get("rating")
        if type(movie_id) is not int or not 0 <= movie_id <= MAX_ID:
            raise rejected(label, f"movieId must be an integer from 0 to {MAX_ID}")
        if type(rating) not in (int, float) or not -1e9 < rating < 1e9:
            raise rejected(label, "rating must be a number")
        labels.append(label)
        ratings.append((movie_id, float(rating)))
    return labels, ratings


@bp.get("/health")
def health():
    """Liveness: 200 while the process is up, with the model and retraining state."""
    ready = engine().model is not None
    return jsonify(
        status="ok",
        ready=ready,
        model=engine().summary() if ready else None,
        training=retrainer().status() if retrainer() is not None else None,
    )


@bp.get("/ready")
def ready():
    """Readiness: 503 with Retry-After until a model is loaded."""
    if engine().model is None:
        raise NotFittedError("no model yet")
    return jsonify(ready=True, modelVersion=g.model_version)


@bp.get("/metrics")
def prometheus_metrics():
    """Prometheus text format: requests by route and status, ratings ingested, model, retraining."""
    return Response(metrics().exposition(), content_type=METRICS_CONTENT_TYPE)


@bp.get("/openapi.json")
def openapi_document():
    """This API's OpenAPI 3 document, with this app's limits and keys (see openapi.py)."""
    return jsonify(openapi.document(current_app.config))


@bp.post("/admin/retrain")
def admin_retrain():
    """Start a retrain now; needs an API key, and is disabled (403) when none is configured."""
    if not current_app.config["API_KEYS"]:
        raise Forbidden("admin routes are disabled: no API keys are configured")
    check_api_key()
    if retrainer() is None:
        raise Forbidden("this service does not retrain: it serves a fixed model")
    retrainer().request()
    return jsonify(status="retrain requested", training=retrainer().status()), 202
