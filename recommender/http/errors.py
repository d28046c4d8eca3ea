"""JSON error answers: every error the app gives is ``{"error": "..."}`` with the right status."""

import logging

from flask import current_app, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, ServiceUnavailable

from recommender.model.errors import NotFittedError

log = logging.getLogger(__name__)


def register_error_handlers(app):
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(RequestEntityTooLarge, too_large)
    app.register_error_handler(NotFittedError, not_ready)
    app.register_error_handler(Exception, unexpected_error)


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
