"""The API's OpenAPI 3.0 document, built from an app's config so its limits are the real ones.

``document(config)`` is served at ``GET /openapi.json``. tests/http/test_openapi.py checks it
against the app's routes and real responses; tests/end_to_end/test_contract.py fuzzes a live server
with Schemathesis against it. OpenAPI 3.0 rather than 3.1: it is the version Schemathesis
and most client generators have supported longest.
"""

from recommender.http import console_routes
from recommender.http.openapi_components import (
    NON_BLANK, error_responses, header_ref, headers, id_list, json_response, parameters,
    ref, response_ref, schemas,
)
from recommender.limits import MAX_ID
from recommender.model.live_model import ORDERS

# The syntax of a ratings body, exactly as recommender.http.parsing.parse_text_ratings reads it: an optional
# byte order mark, then lines split where str.splitlines() splits them, each blank or
# "movie_id,rating" with any other str.isspace() characters around the fields. Characters
# are spelled out, not \s or \d, as those differ between Python's and ECMA/Rust regexes.
# A body that matches can still be 400 (unknown movie, rating off the scale, a movie
# twice, too many lines, no ratings at all); one that does not is never accepted, which
# tests/test_ratings_body.py checks of every body the app accepts.
LINE_BREAK = r"\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
SPACE = r"\t \x1f\xa0\u1680\u2000-\u200a\u202f\u205f\u3000"
NUMBER = r"[+\-]?([0-9]{1,12}(\.[0-9]{0,20})?|\.[0-9]{1,20})"  # parsing.NUMBER
RATING_LINE = rf"[{SPACE}]*([0-9]{{1,12}}[{SPACE}]*,[{SPACE}]*{NUMBER}[{SPACE}]*)?"
RATINGS_TEXT_PATTERN = rf"^\ufeff?{RATING_LINE}([{LINE_BREAK}]{RATING_LINE})*$"
SHORTEST_RATING_LINE = len("1,5")


def document(config):
    """The OpenAPI 3.0 document (a dict) of an app with ``config`` (a Flask config mapping)."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Movie recommender",
            "version": "1.0.0",
            "description": (
                "Movie recommendations from Spark ML ALS, served from factors on the driver. "
                "JSON in UTF-8 throughout; every error is JSON {\"error\": \"...\"}. Any route "
                "answers 405 with an Allow header for a method it does not take."
            ),
        },
        "paths": {**paths(config), **console_routes.openapi_paths()},
        "components": {
            "schemas": schemas(config),
            "parameters": {**parameters(config), **console_routes.openapi_parameters()},
            "headers": headers(),
            "responses": error_responses(config),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "One of the API keys the service is configured with.",
                },
            },
        },
    }


def api_keys_configured(config):
    return bool(config["API_KEYS"])


def reads_protected(config):
    return api_keys_configured(config) and config["PROTECT_READS"]


# -- paths ---------------------------------------------------------------------------------


def paths(config):
    read = {"secured": reads_protected(config)}
    write = {"secured": api_keys_configured(config)}
    return {
        "/{user_id}/ratings/top/{count}": {
            "get": operation(
                "topRatings",
                "The user's top movies, best first (by relevance, or by predicted rating): never one the user rated.",
                ok("Recommendations", "Top-N recommendations."),
                params=("user_id", "count", "min_ratings", "order", *FILTER_PARAMETERS), errors=("400",), **read,
            ),
        },
        **discovery_paths(read),
        "/{user_id}/ratings/{movie_id}": {
            "get": operation(
                "movieRating", "The predicted rating and ranking score of one movie for one user.",
                ok("MoviePrediction", "The prediction."),
                params=("user_id", "movie_id"), errors=("400", "404"), **read,
            ),
        },
        "/{user_id}/ratings": {
            "get": operation(
                "userRatings", "The user's own ratings, in movie id order.",
                ok("UserRatings", "The user's ratings (an empty list for a user with none)."),
                params=("user_id",), errors=("400",), **read,
            ),
            "post": operation(
                "addRatings",
                "Add or replace the user's ratings: all of the batch is applied, or nothing (400).",
                ok("UserRatings", "The accepted ratings, in the order given.", status="201"),
                params=("user_id",), errors=("400", "408", "413", "507"), body=ratings_body(config), **write,
            ),
        },
        "/health": {
            "get": operation(
                "health", "Liveness: 200 while the process is up, loaded or not.",
                ok("Health", "Model and retraining state."), loading=False,
            ),
        },
        "/ready": {
            "get": operation(
                "ready", "Readiness: 200 once a model is loaded, 503 until then.",
                ok("Ready", "A model is loaded."),
            ),
        },
        "/ping": {
            "get": operation(
                "ping", "SageMaker's health check: 200 once a model is loaded, 503 until then.",
                ok("Ping", "A model is loaded."),
            ),
        },
        "/invocations": {
            "post": operation(
                "invocations",
                "SageMaker's inference route: the top-N of one user, or of several at once.",
                {"200": json_response(
                    "The top-N body of the user, or one per user in the order asked.",
                    {"oneOf": [ref("Recommendations"), ref("BatchRecommendations")]},
                )},
                errors=("400", "413"), body=invocations_body(config), **write,
            ),
        },
        "/admin/retrain": {
            "post": operation(
                "adminRetrain",
                "Start a full retrain in the background. 403 when no API key is configured; 409 while "
                "another replica of the shared ratings store retrains. On a serving worker of --workers "
                "the request is passed to the training worker (training is then null).",
                ok("RetrainRequested", "The retrain is requested.", status="202"),
                errors=("403", "409"), secured=True,
            ),
        },
        **model_paths(read),
        "/metrics": {
            "get": operation(
                "metrics", "Prometheus metrics, in its text exposition format 0.0.4.",
                {"200": {
                    "description": "The metrics.",
                    "headers": {"X-Model-Version": header_ref("X-Model-Version")},
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }},
            ),
        },
        "/openapi.json": {
            "get": operation(
                "openapi", "This document.",
                {"200": json_response("The OpenAPI document.", {"type": "object", "required": ["openapi", "paths"]})},
                loading=False,
            ),
        },
    }


def model_paths(read):
    """The model catalog, activation and drift routes (recommender.http.model_routes)."""
    no_catalog = "404"  # also: an app serving a bare engine keeps no catalog
    return {
        "/models": {
            "get": operation(
                "listModels", "Every saved model version, newest first: metrics, which serves, which were rejected.",
                ok("ModelCatalog", "The catalog."), errors=(no_catalog,), loading=False, **read,
            ),
        },
        "/models/{version}": {
            "get": operation(
                "getModel", "One saved model version.", ok("CatalogEntry", "The version."),
                params=("version",), errors=("400", no_catalog), loading=False, **read,
            ),
        },
        "/admin/models/{version}/activate": {
            "post": operation(
                "activateModel",
                "Serve a saved version now (rollback or roll forward), with the logged ratings folded in. "
                "403 when no API key is configured.",
                ok("CatalogEntry", "The version now serving."),
                params=("version",), errors=("400", "403", no_catalog), secured=True,
            ),
        },
        "/drift": {
            "get": operation(
                "drift", "Drift of the ratings the serving model lacks against its training ratings.",
                ok("DriftReport", "The latest drift report, with both histograms."), errors=(no_catalog,), **read,
            ),
        },
    }


FILTER_PARAMETERS = ("genre", "exclude", "include", "exclude_popular", "new")


def discovery_paths(read):
    """The routes of recommender.http.discovery_routes."""
    return {
        "/movies": {
            "get": operation(
                "searchMovies", "Movies whose titles have every word of q (case and accents ignored), best first.",
                ok("MovieSearch", "The matching movies."), params=("q", "limit"), errors=("400",), **read,
            ),
        },
        "/movies/popular/{count}": {
            "get": operation(
                "popularMovies", "The catalog's most popular movies: by damped mean rating, or by ratings count.",
                ok("PopularMovies", "The popular list."),
                params=("count", "by", "min_ratings", "user", *FILTER_PARAMETERS), errors=("400",), **read,
            ),
        },
        "/movies/{movie_id}": {
            "get": operation(
                "movie", "One movie of the catalog.", ok("MovieDetails", "The movie."),
                params=("movie_id",), errors=("400", "404"), **read,
            ),
        },
        "/movies/{movie_id}/similar/{count}": {
            "get": operation(
                "similarMovies",
                "Movies closest to this one (cosine of item factors; by genres for a movie without factors).",
                ok("SimilarMovies", "The similar movies, most similar first."),
                params=("movie_id", "count", "min_ratings", "user", *FILTER_PARAMETERS), errors=("400", "404"), **read,
            ),
        },
    }


def operation(operation_id, summary, responses, params=(), errors=(), body=None, secured=False, loading=True):
    """One operation: its own responses, then the errors it can answer with.

    ``errors`` are the route's own error statuses; 405 and 500 can happen on any route,
    503 on any that needs the model (``loading``), 401 on any that needs a key (``secured``).
    """
    statuses = [*errors, "405", "500"]
    if secured:
        statuses.append("401")
    if loading:
        statuses.append("503")
    result = {
        "operationId": operation_id,
        "summary": summary,
        "responses": {**responses, **{status: response_ref(status) for status in sorted(statuses)}},
    }
    if params:
        result["parameters"] = [{"$ref": f"#/components/parameters/{name}"} for name in params]
    if body is not None:
        result["requestBody"] = body
    if secured:
        result["security"] = [{"bearer": []}]
    return result


def ok(schema_name, description, status="200"):
    return {status: json_response(description, ref(schema_name))}


# -- request bodies ------------------------------------------------------------------------


def ratings_body(config):
    max_lines = config["MAX_LINES"]
    lines = {
        "type": "string",
        "description": (
            f"Lines 'movie_id,rating', at most {max_lines} of them (more is 400): blank lines, "
            "spaces around fields and CRLF are fine. Any content type other than JSON is read "
            f"this way. Over {config['MAX_CONTENT_LENGTH']} bytes is 413."
        ),
        "minLength": SHORTEST_RATING_LINE,
        # Characters are at most as many as bytes: a longer text is over the byte limit too.
        "maxLength": config["MAX_CONTENT_LENGTH"],
        "pattern": RATINGS_TEXT_PATTERN,
        "example": "1,5\n2,4.5\n7,1\n",
    }
    items = {
        "type": "array",
        "minItems": 1,
        "maxItems": max_lines,
        "items": ref("RatingInput"),
        "example": [{"movieId": 1, "rating": 5}, {"movieId": 2, "rating": 4.5}],
    }
    return {
        "required": True,
        "description": "Ratings of movies in the catalog, on the dataset's scale; no movie twice.",
        "content": {
            "text/plain": {"schema": lines},
            # What curl --data-binary labels a file.
            "application/x-www-form-urlencoded": {"schema": lines},
            "application/json": {"schema": items},
        },
    }


def invocations_body(config):
    max_batch = config["MAX_BATCH_USERS"]
    one = invocation_request(config, "userId", {"type": "integer", "minimum": 0, "maximum": MAX_ID})
    batch = invocation_request(config, "userIds", {
        "type": "array", "minItems": 1, "maxItems": max_batch,
        "items": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
    })
    return {
        "required": True,
        "content": {"application/json": {"schema": {"oneOf": [one, batch]}, "example": {"userId": 1, "count": 5}}},
    }


def invocation_request(config, users_key, users_schema):
    return {
        "type": "object",
        "required": [users_key],
        "additionalProperties": False,
        "properties": {
            users_key: users_schema,
            "count": {"type": "integer", "minimum": 1, "maximum": config["MAX_COUNT"]},
            "minRatings": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
            "order": {"type": "string", "enum": list(ORDERS)},
            "genres": {"type": "array", "items": {"type": "string", "pattern": NON_BLANK}},
            "exclude": id_list(),
            "include": id_list(),
            "excludePopular": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
            "new": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
        },
    }


