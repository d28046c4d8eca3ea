"""The routes SageMaker calls on an inference container: ``GET /ping`` and ``POST /invocations``."""

import json

from flask import Blueprint, current_app, g, jsonify
from werkzeug.exceptions import BadRequest

from recommender.http.auth import read_route
from recommender.http.context import engine, recommend
from recommender.http.parsing import JSON_FILTERS, choice, json_body, json_filters, json_integer, read_body
from recommender.http.wire import recommendations_json
from recommender.limits import DEFAULT_COUNT, MAX_ID
from recommender.model.errors import NotFittedError
from recommender.model.live_model import ORDERS

FILTER_KEYS = ("genres", "exclude", "include", "excludePopular", "new")
INVOCATION_KEYS = ("userId", "userIds", "count", "minRatings", "order", *FILTER_KEYS)

bp = Blueprint("sagemaker", __name__)


@bp.get("/ping")
def ping():
    """SageMaker's health check: 200 once a model is loaded, else 503 with ``Retry-After``."""
    if engine().model is None:
        raise NotFittedError("no model yet")
    return jsonify(status="ok", modelVersion=g.model_version)


@bp.post("/invocations")
@read_route
def invocations():
    """Top-N lists for SageMaker: the top-N route's body for one user, ``{"results": [...]}`` for several.

    The body is JSON whatever its content type: ``{"userId": 1}`` or ``{"userIds": [1, 2]}``,
    with optional ``count`` (default 10), ``minRatings`` (default: the threshold in force, as the top-N route's),
    ``order`` (``relevance``, the default, or ``rating``) and the filters of the top-N route as
    ``genres``, ``exclude``, ``include``, ``excludePopular`` and ``new``.
    """
    body = invocation_body(read_body())
    config = current_app.config
    count = json_integer("count", body.get("count", min(DEFAULT_COUNT, config["MAX_COUNT"])), 1, config["MAX_COUNT"])
    min_ratings = json_integer("minRatings", body["minRatings"], 0, MAX_ID) if "minRatings" in body else (
        config["DEFAULT_MIN_RATINGS"]
    )
    order = choice("order", body.get("order", ORDERS[0]))
    filters = json_filters(body)

    def top(user_id):
        return recommendations_json(recommend(user_id, count, min_ratings, order, filters, JSON_FILTERS))

    if "userId" in body:
        return jsonify(top(json_integer("userId", body["userId"], 0, MAX_ID)))
    user_ids = user_ids_arg(body["userIds"], config["MAX_BATCH_USERS"])
    return jsonify(results=[top(user_id) for user_id in user_ids])


def invocation_body(data):
    """The request's JSON object, with exactly one of ``userId`` and ``userIds`` and no other keys."""
    body = json_body(data)
    if not isinstance(body, dict):
        raise BadRequest('the body must be a JSON object: {"userId": int} or {"userIds": [int, ...]}')
    unknown = [key for key in body if key not in INVOCATION_KEYS]
    if unknown:
        shown = ", ".join(repr(key[:50]) for key in unknown[:5])
        raise BadRequest(f"unknown keys {shown}; expected {', '.join(INVOCATION_KEYS)}")
    if "userId" in body and "userIds" in body:
        raise BadRequest("give userId or userIds, not both")
    if "userId" not in body and "userIds" not in body:
        raise BadRequest('the body needs "userId": int or "userIds": [int, ...]')
    return body


def user_ids_arg(value, limit):
    """The ``userIds`` list: 1 to ``limit`` user ids, else 400."""
    if not isinstance(value, list) or not 1 <= len(value) <= limit:
        given = f"a list of {len(value)}" if isinstance(value, list) else json.dumps(value)[:100]
        raise BadRequest(f"userIds must be a list of 1 to {limit} user ids, got {given}")
    return [json_integer(f"userIds[{index}]", user_id, 0, MAX_ID) for index, user_id in enumerate(value)]
