"""Discovery routes: title search, one movie, similar movies, popular lists (see docs/discovery.md).

``/movies/popular/<count>`` is matched before ``/movies/<movie_id>/...``: Werkzeug prefers
the static segment ``popular`` to a variable one, and the two differ in length anyway.
"""

from flask import Blueprint, current_app, g, jsonify
from werkzeug.exceptions import NotFound

from recommender.http.auth import read_route
from recommender.http.context import engine, min_ratings_in_force
from recommender.http.parsing import (
    choice_arg, filter_errors, filters_arg, integer_arg, min_ratings_arg, optional_integer_arg, text_arg,
)
from recommender.http.wire import movie_details_json, popular_json, similar_json
from recommender.limits import DEFAULT_COUNT, MAX_ID
from recommender.model.discovery import POPULAR_ORDERS, movie_details, popular_movies, search_movies, similar_movies
from recommender.model.errors import NotFittedError, UnknownMovieError
from recommender.model.filters import catalog_rows

bp = Blueprint("discovery", __name__)


def serving_model():
    model = engine().model
    if model is None:
        raise NotFittedError("no trained model is serving yet")
    g.model_version = model.version
    return model


def rated_rows(model):
    """Rows of the ``user`` query parameter's rated movies (folded-in ratings too); none without it."""
    user_id = optional_integer_arg("user", None, 0, MAX_ID)
    if user_id is None:
        return ()
    return catalog_rows(model.catalog, [rating.movie.movie_id for rating in engine().user_ratings(user_id)])


def movie_id_arg(text):
    return integer_arg("movie_id", text, 0, MAX_ID)


def count_arg(text):
    return integer_arg("count", text, 1, current_app.config["MAX_COUNT"])


@bp.get("/movies")
@read_route
def search():
    """Movies whose titles have every word of ``q``, best matches first."""
    text = text_arg("q")
    limit = optional_integer_arg("limit", DEFAULT_COUNT, 1, current_app.config["MAX_COUNT"])
    model = serving_model()
    found = search_movies(model, text, limit)
    return jsonify(query=text, modelVersion=model.version, movies=[movie_details_json(d) for d in found])


@bp.get("/movies/popular/<count>")
@read_route
def popular(count):
    count, by, min_ratings, filters = count_arg(count), choice_arg("by", POPULAR_ORDERS), min_ratings_arg(), filters_arg()
    model = serving_model()
    rows, min_ratings = rated_rows(model), min_ratings_in_force(model, min_ratings)
    with filter_errors():
        return jsonify(popular_json(popular_movies(model, count, by, min_ratings, filters, rows)))


@bp.get("/movies/<movie_id>")
@read_route
def movie(movie_id):
    movie_id = movie_id_arg(movie_id)
    model = serving_model()
    try:
        details = movie_details(model, movie_id)
    except UnknownMovieError as error:
        raise NotFound(str(error)) from None
    return jsonify(modelVersion=model.version, **movie_details_json(details))


@bp.get("/movies/<movie_id>/similar/<count>")
@read_route
def similar(movie_id, count):
    movie_id, count, min_ratings, filters = movie_id_arg(movie_id), count_arg(count), min_ratings_arg(), filters_arg()
    model = serving_model()
    rows, min_ratings = rated_rows(model), min_ratings_in_force(model, min_ratings)
    try:
        with filter_errors():
            found = similar_movies(model, movie_id, count, min_ratings, filters, rows)
    except UnknownMovieError as error:
        raise NotFound(str(error)) from None
    return jsonify(similar_json(found))
