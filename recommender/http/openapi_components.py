"""The reusable parts of the OpenAPI document: parameters, headers, error responses and schemas.

``recommender.http.openapi`` assembles them with the paths into the document.
"""

from recommender.limits import DEFAULT_COUNT, MAX_FILTER_IDS, MAX_ID, MAX_QUERY_LENGTH
from recommender.model.live_model import ORDERS
from recommender.model.trained import VERSION_PATTERN

MODEL_VERSION_PATTERN = f"^{VERSION_PATTERN}$"


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
            "description": "Only movies with at least this many ratings. Without it, the threshold in force "
                           "(/health's model.minRatings: server.py --min-ratings, else fitted to the data), "
                           "and a top-N list it would leave short is drawn from every rated movie.",
            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID, **min_ratings_default(config)},
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
    "409": ("Another replica of the shared ratings store is retraining: 'retrainingReplica' names it.", ()),
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
        "RetrainRequested": closed({
            "status": {"type": "string"},
            # null from a serving worker of --workers: the training worker's state is not known there
            "training": {**training_status(count), "nullable": True},
        }),
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
        "minRatings": count,
        "minRatingsSource": {"type": "string", "enum": ["option", "data"]},
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
        "nextRetrain": {
            **closed({
                "waitingFor": {"type": "string", "enum": ["running", "nothing", "retry", "gap", "ratings"]},
                "reason": {"type": "string"},
                "pendingRatings": count,
                "thresholdRatings": count,
                "startsInSeconds": {"type": "number", "minimum": 0, "nullable": True},
            }),
            "nullable": True,
        },
    })


def min_ratings_default(config):
    """The schema's ``default`` of ``min_ratings`` when the app fixes one (else it depends on the data)."""
    configured = config.get("DEFAULT_MIN_RATINGS")
    return {} if configured is None else {"default": configured}
