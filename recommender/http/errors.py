"""JSON error answers: every error the app gives is ``{"error": "..."}`` with the right status."""

import logging

from flask import current_app, jsonify, request
from werkzeug.exceptions import (
    ClientDisconnected, HTTPException, RequestEntityTooLarge, RequestTimeout, ServiceUnavailable,
)

from recommender.datasets.ratings_log import LogWriteError

from recommender.model.errors import NotFittedError

log = logging.getLogger(__name__)


class InsufficientStorage(HTTPException):
    """507: the disk is full (Werkzeug has no class of its own for it)."""

    code = 507
    description = "the server's disk is full"


def register_error_handlers(app):
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(RequestEntityTooLarge, too_large)
    app.register_error_handler(NotFittedError, not_ready)
    app.register_error_handler(TimeoutError, too_slow)
    app.register_error_handler(ClientDisconnected, disconnected)
    app.register_error_handler(LogWriteError, not_durable)
    app.register_error_handler(Exception, unexpected_error)


def http_error(error):
    response = error.get_response()
    response.data = current_app.json.dumps({"error": error.description})
    response.content_type = "application/json"
    return response


def too_large(error):
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    return http_error(RequestEntityTooLarge(f"the request body is over the limit of {limit} bytes"))


def too_slow(error):
    """A request body that arrived slower than the server's floor rate (``--min-body-rate``)."""
    response = http_error(RequestTimeout("the request body arrived too slowly; nothing was applied"))
    response.headers["Connection"] = "close"
    return response


def disconnected(error):
    """Werkzeug's answer to a failed body read; a read that timed out was a too slow body."""
    if isinstance(error.__context__, TimeoutError):
        return too_slow(error.__context__)
    return http_error(error)


def not_durable(error):
    """The ratings log could not be written: 507 when the disk is full, else 503; nothing was applied."""
    message = f"{error.reason}; nothing was applied, retry later"
    if error.disk_full:
        return http_error(InsufficientStorage(message))
    response = http_error(ServiceUnavailable(message))
    response.headers["Retry-After"] = str(current_app.config["RETRY_AFTER"])
    return response


def not_ready(error):
    unavailable = ServiceUnavailable("the model is still loading; retry shortly")
    response = http_error(unavailable)
    response.headers["Retry-After"] = str(current_app.config["RETRY_AFTER"])
    return response


def unexpected_error(error):
    log.exception("unhandled error on %s %s", request.method, request.path)
    return jsonify(error="internal server error"), 500
