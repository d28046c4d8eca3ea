"""Reading what clients send: path and query integers, ratings bodies (text lines or JSON), JSON fields.

Every function raises a 400 (``BadRequest``) that names what was wrong.
"""

import contextlib
import json
import re

from flask import current_app, request
from werkzeug.exceptions import BadRequest

from recommender.model.live_model import ORDERS
from recommender.limits import MAX_FILTER_IDS, MAX_ID, MAX_QUERY_LENGTH
from recommender.model.errors import FilterError
from recommender.model.filters import NO_FILTERS, Filters

# What each Filters field is called in a query string and in a JSON body (/invocations).
QUERY_FILTERS = {"genres": "genre", "exclude": "exclude", "include": "include", "exclude_popular": "exclude_popular", "new": "new"}
JSON_FILTERS = {"genres": "genres", "exclude": "exclude", "include": "include", "exclude_popular": "excludePopular", "new": "new"}

INTEGER = re.compile(r"\d{1,12}", re.ASCII)  # longer is out of range anyway; int() refuses huge texts
NUMBER = re.compile(r"[+-]?(\d{1,12}(\.\d{0,20})?|\.\d{1,20})", re.ASCII)
# A well-formed ``movie_id,rating`` line in one match: most lines take this path, and any
# other line the field-by-field checks below, which name what is wrong.
RATING_LINE = re.compile(r"[ \t]*(\d{1,12})[ \t]*,[ \t]*(" + NUMBER.pattern + r")[ \t]*", re.ASCII)


def integer_arg(name, text, low, high):
    """``text`` as an int in ``[low, high]``, or 400 naming the parameter."""
    if not (INTEGER.fullmatch(text) and low <= int(text) <= high):
        raise BadRequest(f"{name} must be an integer from {low} to {high}, got {text!r}")
    return int(text)


def user_id_arg(text):
    return integer_arg("user_id", text, 0, MAX_ID)


def min_ratings_arg():
    """The ``min_ratings`` query parameter, else the app's DEFAULT_MIN_RATINGS (None: the engine's default)."""
    if "min_ratings" not in request.args:  # not .get: Werkzeug's raises and catches a KeyError for a missing one
        return current_app.config["DEFAULT_MIN_RATINGS"]
    return integer_arg("min_ratings", request.args["min_ratings"], 0, MAX_ID)


def order_arg():
    """The ``order`` query parameter: ``relevance`` (the default) or ``rating``."""
    return choice("order", request.args["order"]) if "order" in request.args else ORDERS[0]


def choice(name, value):
    """``value`` if it is one of the orders recommend takes, else 400 naming ``name``."""
    if value not in ORDERS:
        raise BadRequest(f"{name} must be one of {', '.join(ORDERS)}, got {json.dumps(value)[:100]}")
    return value


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


def ratings_body(body):
    """Labels and (movie_id, rating) pairs of a ratings body: JSON when the content type says so, else lines."""
    if request.mimetype == "application/json":
        return parse_json_ratings(body)
    return parse_text_ratings(body)


def parse_text_ratings(body):
    """Labels (``line N``) and (movie_id, rating) pairs from a body of ``movie_id,rating`` lines."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8 text") from None
    labels, ratings, limit = [], [], current_app.config["MAX_LINES"]
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(ratings) == limit:
            check_batch_size(limit + 1, "lines")
        label = f"line {number}"
        matched = RATING_LINE.fullmatch(line)
        if matched and int(matched[1]) <= MAX_ID:
            labels.append(label)
            ratings.append((int(matched[1]), float(matched[2])))
            continue
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


def json_body(body):
    """The body parsed as JSON, or 400."""
    try:
        return current_app.json.loads(body)
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON") from None


def parse_json_ratings(body):
    """Labels (``item N``) and pairs from a JSON list of ``{"movieId": .., "rating": ..}``."""
    items = json_body(body)
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


def json_integer(name, value, low, high):
    """``value`` if it is a JSON integer in ``[low, high]``, else 400 naming ``name``."""
    # type(), not isinstance(): true is an int in Python, and 1.0 is not an integer in the API.
    if type(value) is not int or not low <= value <= high:
        raise BadRequest(f"{name} must be an integer from {low} to {high}, got {json.dumps(value)[:100]}")
    return value


# -- filters and discovery parameters ----------------------------------------------------


def optional_integer_arg(name, default, low, high):
    """The query parameter ``name`` as an int in ``[low, high]``; ``default`` when absent."""
    text = request.args.get(name)
    return default if text is None else integer_arg(name, text, low, high)


def id_list_arg(name):
    """The movie ids of a query parameter ``name=1,2,3`` (repeatable); None when absent."""
    texts = request.args.getlist(name)
    if not texts:
        return None
    parts = [part.strip() for text in texts for part in text.split(",") if part.strip()]
    if len(parts) > MAX_FILTER_IDS:
        raise BadRequest(f"{name} lists {len(parts)} movie ids; at most {MAX_FILTER_IDS} are allowed")
    for part in parts:
        if not (INTEGER.fullmatch(part) and int(part) <= MAX_ID):
            raise BadRequest(f"{name} must be movie ids from 0 to {MAX_ID} separated by commas, got {part[:100]!r}")
    return tuple(int(part) for part in parts)


def filters_arg():
    """The Filters of the query string: genre (repeatable), exclude, include, exclude_popular, new."""
    if not any(name in request.args for name in QUERY_FILTERS.values()):
        return NO_FILTERS  # the common list: nothing to parse
    genres = tuple(genre.strip() for genre in request.args.getlist("genre"))
    for genre in genres:
        if not genre:
            raise BadRequest("genre must not be empty")
    return Filters(
        genres=genres,
        exclude=id_list_arg("exclude") or (),
        include=id_list_arg("include"),
        exclude_popular=optional_integer_arg("exclude_popular", 0, 0, MAX_ID),
        new=optional_integer_arg("new", 0, 0, MAX_ID),
    )


def json_id_list(name, value):
    if not isinstance(value, list) or len(value) > MAX_FILTER_IDS:
        raise BadRequest(f"{name} must be a list of at most {MAX_FILTER_IDS} movie ids")
    return tuple(json_integer(f"{name}[{index}]", movie_id, 0, MAX_ID) for index, movie_id in enumerate(value))


def json_filters(body):
    """The Filters of a JSON body's keys genres, exclude, include, excludePopular, new."""
    genres = body.get("genres", [])
    if not isinstance(genres, list) or not all(isinstance(genre, str) and genre.strip() for genre in genres):
        raise BadRequest("genres must be a list of genre names")
    return Filters(
        genres=tuple(genre.strip() for genre in genres),
        exclude=json_id_list("exclude", body.get("exclude", [])),
        include=json_id_list("include", body["include"]) if "include" in body else None,
        exclude_popular=json_integer("excludePopular", body.get("excludePopular", 0), 0, MAX_ID),
        new=json_integer("new", body.get("new", 0), 0, MAX_ID),
    )


@contextlib.contextmanager
def filter_errors(names=QUERY_FILTERS):
    """A FilterError of the model as a 400 naming the parameter as the client spelled it."""
    try:
        yield
    except FilterError as error:
        raise BadRequest(f"{names.get(error.parameter, error.parameter)}: {error.reason}") from None


def text_arg(name, max_length=MAX_QUERY_LENGTH):
    """A required, non-blank query parameter of at most ``max_length`` characters."""
    text = request.args.get(name, "")
    if len(text) > max_length or not text.strip():
        raise BadRequest(f"{name} must be 1 to {max_length} characters of text")
    return text.strip()


def choice_arg(name, choices):
    """A query parameter that is one of ``choices``; the first when absent."""
    value = request.args.get(name, choices[0])
    if value not in choices:
        raise BadRequest(f"{name} must be one of {', '.join(choices)}, got {value[:50]!r}")
    return value
