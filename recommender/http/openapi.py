"""The API's OpenAPI 3.0 document, built from an app's config so its limits are the real ones.

``document(config)`` is served at ``GET /openapi.json``. tests/test_openapi.py checks it
against the app's routes and real responses; tests/test_contract.py fuzzes a live server
with Schemathesis against it. OpenAPI 3.0 rather than 3.1: it is the version Schemathesis
and most client generators have supported longest.
"""

from recommender.http import console_routes
from recommender.limits import DEFAULT_COUNT, MAX_FILTER_IDS, MAX_ID, MAX_QUERY_LENGTH
from recommender.model.live_model import ORDERS
from recommender.model.trained import VERSION_PATTERN

MODEL_VERSION_PATTERN = f"^{VERSION_PATTERN}$"


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
                "Start a full retrain in the background. 403 when no API key is configured.",
                ok("RetrainRequested", "The retrain is requested.", status="202"),
                errors=("403",), secured=True,
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


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def header_ref(name):
    return {"$ref": f"#/components/headers/{name}"}


def response_ref(status):
    return {"$ref": f"#/components/responses/{status}"}


def json_response(description, schema, extra_headers=()):
    return {
        "description": description,
        "headers": {name: header_ref(name) for name in ("X-Model-Version", *extra_headers)},
        "content": {"application/json": {"schema": schema}},
    }


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


NON_BLANK = r"[^\t\n\r ]"  # what str.strip() leaves something of (ASCII spaces; others are 400 too)


def id_list():
    return {"type": "array", "maxItems": MAX_FILTER_IDS, "items": {"type": "integer", "minimum": 0, "maximum": MAX_ID}}


# -- parameters, headers, error responses --------------------------------------------------


def parameters(config):
    def path_integer(name, low, high, description):
        return {
            "name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "integer", "minimum": low, "maximum": high},
        }

    def query(name, schema, description, **extra):
        return {"name": name, "in": "query", "required": False, "description": description, "schema": schema, **extra}

    an_integer = {"type": "integer", "minimum": 0, "maximum": MAX_ID}
    return {
        "q": {**query("q", {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_LENGTH, "pattern": NON_BLANK},
                      "Words of the title, in any order; a word may be the start of a title's word."),
              "required": True},
        "limit": query("limit", {"type": "integer", "minimum": 1, "maximum": config["MAX_COUNT"],
                                 "default": DEFAULT_COUNT}, "How many movies at most."),
        "by": query("by", {"type": "string", "enum": ["rating", "count"], "default": "rating"},
                    "rating: damped mean rating (the cold-start list); count: most rated."),
        "user": query("user", an_integer, "Leave out the movies this user has rated."),
        "genre": query("genre", {"type": "array", "items": {"type": "string", "pattern": NON_BLANK}},
                       "Only movies of any of these genres (repeat the parameter); unknown genres are 400.",
                       style="form", explode=True),
        "exclude": query("exclude", id_list(),
                         f"Never these movies: ids separated by commas, at most {MAX_FILTER_IDS}.",
                         style="form", explode=False),
        "include": query("include", id_list(),
                         f"Only these movies (an allowed set): ids separated by commas, at most {MAX_FILTER_IDS}.",
                         style="form", explode=False),
        "exclude_popular": query("exclude_popular", an_integer, "Leave out the catalog's n most-rated movies."),
        "new": query("new", an_integer, "Keep up to n places for the newest movies (by first rating), reason new."),
        "user_id": path_integer("user_id", 0, MAX_ID, "Any user id; user 0 is free to try things with."),
        "movie_id": path_integer("movie_id", 0, MAX_ID, "A movie of the catalog (another one is 404)."),
        "count": path_integer("count", 1, config["MAX_COUNT"], "How many movies at most."),
        "version": {
            "name": "version", "in": "path", "required": True, "description": "A saved model version.",
            "schema": {"type": "string", "pattern": MODEL_VERSION_PATTERN},
        },
        "min_ratings": {
            "name": "min_ratings", "in": "query", "required": False,
            "description": "Only movies with at least this many ratings.",
            "schema": {
                "type": "integer", "minimum": 0, "maximum": MAX_ID, "default": config["DEFAULT_MIN_RATINGS"],
            },
        },
        "order": {
            "name": "order", "in": "query", "required": False,
            "description": "relevance: by the ranking model's score (what the user is likely to pick); "
                           "rating: by predicted rating, highest first.",
            "schema": {"type": "string", "enum": list(ORDERS), "default": ORDERS[0]},
        },
    }


def headers():
    return {
        "X-Model-Version": {
            "description": "The version of the model that answered (absent until one is loaded).",
            "schema": {"type": "string", "pattern": MODEL_VERSION_PATTERN},
        },
        "Retry-After": {
            "description": "Seconds to wait before retrying.",
            "required": True,
            "schema": {"type": "integer", "minimum": 0},
        },
        "WWW-Authenticate": {
            "description": "The scheme the route needs.",
            "required": True,
            "schema": {"type": "string", "pattern": "^Bearer"},
        },
        "Allow": {
            "description": "The methods the route takes.",
            "required": True,
            "schema": {"type": "string"},
        },
    }


ERRORS = {
    "400": ("A path or query parameter out of range, or a bad body: nothing of it was applied.", ()),
    "401": ("No 'Authorization: Bearer <key>' header, or not a configured key.", ("WWW-Authenticate",)),
    "403": ("The route is disabled: no API key is configured.", ()),
    "404": ("An unknown movie or model version.", ()),
    "405": ("A method the route does not take.", ("Allow",)),
    "408": ("The body arrived slower than the server's floor rate: nothing of it was applied.", ()),
    "413": ("The body is over the size limit.", ()),
    "500": ("An unexpected failure, logged on the server.", ()),
    "503": (
        "No model is loaded yet (the service is starting), or the ratings log cannot be written (a write).",
        ("Retry-After",),
    ),
    "507": ("The disk holding the ratings log is full: nothing of the batch was applied.", ()),
}


def error_responses(config):
    responses = {
        status: json_response(description, ref("Error"), extra_headers)
        for status, (description, extra_headers) in ERRORS.items()
    }
    responses["413"]["description"] = f"The body is over {config['MAX_CONTENT_LENGTH']} bytes."
    return responses


# -- schemas -------------------------------------------------------------------------------


def closed(properties, optional=None):
    """An object with exactly these properties (and maybe the ``optional`` ones): a field the app adds must be documented."""
    return {
        "type": "object",
        "required": list(properties),
        "additionalProperties": False,
        "properties": {**properties, **(optional or {})},
    }


def discovery_schemas(config, an_id, count, version):
    """The bodies of the discovery routes, and what filtered lists add to theirs."""
    details = {
        "movieId": an_id,
        "title": {"type": "string"},
        "genres": {"type": "array", "items": {"type": "string"}},
        "year": {"type": "integer", "nullable": True},
        "ratingsCount": count,
        "meanRating": {"type": "number", "nullable": True},
    }
    listed = {"type": "array", "maxItems": config["MAX_COUNT"]}
    reason = {"type": "string", "enum": ["similar", "new"]}
    similar_item = closed({**details, "similarity": {"type": "number"}, "reason": reason})
    popular_item = closed({**details, "reason": {"type": "string", "enum": ["popular", "new"]}})
    return {
        "MovieSearch": closed({"query": {"type": "string"}, "modelVersion": version, "movies": {**listed, "items": closed(details)}}),
        "MovieDetails": closed({"modelVersion": version, **details}),
        "SimilarMovies": closed({
            "movie": closed(details), "basis": {"type": "string", "enum": ["factors", "genres"]},
            "modelVersion": version, "similar": {**listed, "items": similar_item},
        }, LIST_EXTRAS),
        "PopularMovies": closed({
            "by": {"type": "string", "enum": ["rating", "count"]}, "modelVersion": version,
            "movies": {**listed, "items": popular_item},
        }, LIST_EXTRAS),
    }


LIST_EXTRAS = {
    "filters": {
        "type": "object", "additionalProperties": False,
        "description": "The filters applied (only those given).",
        "properties": {
            "genres": {"type": "array", "items": {"type": "string"}},
            "exclude": {"type": "array", "items": {"type": "integer"}},
            "include": {"type": "array", "items": {"type": "integer"}},
            "excludePopular": {"type": "integer"},
            "new": {"type": "integer"},
        },
    },
    "candidates": {
        "type": "integer", "minimum": 0,
        "description": "How many movies the filters left, when fewer than count.",
    },
}


def schemas(config):
    count = {"type": "integer", "minimum": 0}
    an_id = {"type": "integer", "minimum": 0, "maximum": MAX_ID}
    version = {"type": "string", "pattern": MODEL_VERSION_PATTERN}
    prediction = {
        "movieId": an_id,
        "title": {"type": "string"},
        "genres": {"type": "array", "items": {"type": "string"}},
        "predictedRating": {"type": "number"},
        "score": {
            "type": "number",
            "description": "The ranking model's score (the damped mean rating in a list that is not personalized).",
        },
        "ratingsCount": count,
    }
    user_rating = closed({"movieId": an_id, "title": {"type": "string"}, "rating": {"type": "number"}})
    writes = closed({"ok": {"type": "boolean"}, "error": {"type": "string", "nullable": True}})
    reason = {"reason": {"type": "string", "enum": ["personalized", "popular", "new"]}}
    recommendations = closed({
        "userId": an_id,
        "personalized": {"type": "boolean"},
        "modelVersion": version,
        "recommendations": {"type": "array", "maxItems": config["MAX_COUNT"], "items": closed(prediction, reason)},
    }, LIST_EXTRAS)
    return {
        **discovery_schemas(config, an_id, count, version),
        "Error": closed({"error": {"type": "string"}}),
        "RatingInput": {
            "type": "object",
            "required": ["movieId", "rating"],
            "properties": {
                "movieId": an_id,
                "rating": {"type": "number", "description": "On the dataset's scale (0.5 to 5 for MovieLens)."},
            },
        },
        "Recommendations": recommendations,
        "BatchRecommendations": closed({
            "results": {
                "type": "array", "items": recommendations,
                "maxItems": config["MAX_BATCH_USERS"],
            },
        }),
        "MoviePrediction": closed({
            "userId": an_id, "personalized": {"type": "boolean"}, "modelVersion": version, **prediction,
        }),
        "UserRatings": closed({
            "userId": an_id, "modelVersion": version, "ratings": {"type": "array", "items": user_rating},
        }),
        "Health": closed({
            "status": {"type": "string", "enum": ["ok"]},
            "ready": {"type": "boolean"},
            "writes": writes,
            "model": {**model_summary(version, count), "nullable": True},
            "training": {**training_status(count), "nullable": True},
        }),
        "Ready": closed({"ready": {"type": "boolean", "enum": [True]}, "modelVersion": version, "writes": writes}),
        "Ping": closed({"status": {"type": "string", "enum": ["ok"]}, "modelVersion": version}),
        "RetrainRequested": closed({"status": {"type": "string"}, "training": training_status(count)}),
        "CatalogEntry": catalog_entry(version, count),
        "ModelCatalog": closed({
            "serving": {**version, "nullable": True},
            "activated": {**version, "nullable": True},
            "models": {"type": "array", "items": ref("CatalogEntry")},
        }),
        "DriftReport": drift_report(version, count),
    }


def nullable_object(description):
    return {"type": "object", "nullable": True, "description": description}


def catalog_entry(version, count):
    return closed({
        "modelVersion": version,
        "trainedAt": {"type": "string", "format": "date-time"},
        "serving": {"type": "boolean"},
        "rejected": {"type": "boolean"},
        "rejection": {
            **closed({"reason": {"type": "string"}, "serving": version, "at": {"type": "string", "format": "date-time"}}),
            "nullable": True,
        },
        "params": {"type": "object", "description": "The training parameters."},
        "logPosition": count,
        "dataFingerprint": {"type": "string"},
        "trainingSeconds": {"type": "number", "nullable": True},
        "counts": nullable_object("ratings, fitted_ratings, heldout_ratings, users, movies"),
        "heldout": nullable_object(
            "Metrics on the held-out ratings: rmse, mae, rated_pairs, ndcg_at_10 (the served order), "
            "popular_ndcg_at_10, ranking_users; and share, seed, min_user_ratings, seconds"
        ),
    })


def drift_report(version, count):
    number = {"type": "number"}
    nullable_number = {"type": "number", "nullable": True}
    ratings = closed({
        "ratings": count, "mean": nullable_number, "median": nullable_number,
        "histogram": {"type": "array", "items": count},
    })
    return closed({
        "modelVersion": version,
        "retrain": {"type": "boolean"},
        "reasons": {"type": "array", "items": {"type": "string"}},
        "score": number,
        "klDivergence": number,
        "meanShift": number,
        "medianShift": number,
        "newUsersShare": number,
        "newMoviesShare": number,
        "model": {"type": "object", "description": "rmse, mae, rated_pairs on the newer ratings; heldout_rmse, "
                  "heldout_mae; rmse_increase"},
        "bins": {"type": "array", "items": number, "description": "Histogram bin centres (stars)."},
        "reference": ratings,
        "current": ratings,
        "thresholds": {"type": "object", "description": "The decision's thresholds and weights."},
    })


def model_summary(version, count):
    return closed({
        "modelVersion": version,
        "trainedAt": {"type": "string", "format": "date-time"},
        "rank": {"type": "integer", "minimum": 1},
        "params": {
            "type": "object",
            "description": "The training parameters (recommender.model.params.ModelParams).",
            "required": ["rank", "iterations", "reg_param", "seed", "bias_damping", "implicit_prefs", "alpha"],
            "properties": {
                "rank": {"type": "integer", "minimum": 1},
                "iterations": {"type": "integer", "minimum": 1},
                "reg_param": {"type": "number", "minimum": 0},
                "seed": {"type": "integer", "nullable": True},
                "bias_damping": {"type": "number", "minimum": 0},
                "implicit_prefs": {"type": "boolean"},
                "alpha": {"type": "number"},
                "nonnegative": {"type": "boolean"},
            },
        },
        "users": count,
        "movies": count,
        "ratings": count,
        "ratingScale": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
        "logPosition": count,
        "acceptedRatings": count,
    })


def training_status(count):
    nullable_string = {"type": "string", "nullable": True}
    return closed({
        "running": {"type": "boolean"},
        "retrains": count,
        "unmodelledRatings": {"type": "integer"},
        "lastSuccess": {**nullable_string, "format": "date-time"},
        "lastError": nullable_string,
        "consecutiveFailures": count,
        "nextRetryInSeconds": {"type": "number", "minimum": 0, "nullable": True},
        "policy": {"type": "string", "enum": ["count", "drift"]},
        "rejected": count,
        "lastRejection": {
            **closed({"version": {"type": "string"}, "reason": {"type": "string"}, "at": {"type": "string"}}),
            "nullable": True,
        },
    })
