"""What reads return: plain values, turned into JSON only at the HTTP edge."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Movie:
    movie_id: int
    title: str
    genres: tuple
    ratings_count: int


@dataclass(frozen=True)
class MovieDetails:
    """A movie as discovery shows it: with its year and mean rating (None when unknown)."""

    movie: Movie
    year: object
    mean_rating: object


@dataclass(frozen=True)
class Prediction:
    """A movie with the rating predicted for one user, clipped to the rating scale, and its ranking score.

    ``score`` is the ranking model's score, what top-N lists are ordered by by default;
    for a list that is not personalized it is the movie's damped mean rating. ``reason``
    says why it is in a list: "personalized", "popular" or "new" (a place reserved for
    the newest movies).
    """

    movie: Movie
    rating: float
    personalized: bool
    score: float
    reason: str = ""


@dataclass(frozen=True)
class Recommendations:
    """A top-N list; ``filters`` are those applied, ``candidates`` how many movies were left when fewer than asked."""

    user_id: int
    personalized: bool
    model_version: str
    items: list
    filters: object = None  # recommender.model.filters.Filters
    candidates: int = None


@dataclass(frozen=True)
class SimilarMovies:
    """Movies like ``movie``, most similar first; ``basis`` is "factors" or "genres"."""

    movie: MovieDetails
    basis: str
    items: list  # (MovieDetails, similarity)
    filters: object
    candidates: int
    model_version: str


@dataclass(frozen=True)
class PopularMovies:
    """The catalog's most popular movies, ranked ``by`` "rating" (damped mean) or "count"."""

    by: str
    items: list  # Prediction-like (MovieDetails, reason)
    filters: object
    candidates: int
    model_version: str


@dataclass(frozen=True)
class UserRating:
    movie: Movie
    rating: float


@dataclass(frozen=True)
class ModelSummary:
    """What the serving model was trained on and when."""

    version: str
    trained_at: str
    rank: int
    params: dict
    users: int
    movies: int
    ratings: int
    rating_scale: tuple
    log_position: int
    accepted_ratings: int
    min_ratings: int = None  # the top-N lists' default min_ratings in force
    min_ratings_source: str = None  # "option" (the operator's) or "data" (fitted to the model's data)
