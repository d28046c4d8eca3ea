"""What reads return: plain values, turned into JSON only at the HTTP edge."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Movie:
    movie_id: int
    title: str
    genres: tuple
    ratings_count: int


@dataclass(frozen=True)
class Prediction:
    """A movie with the rating predicted for one user, clipped to the rating scale, and its ranking score.

    ``score`` is the ranking model's score, what top-N lists are ordered by by default;
    for a list that is not personalized it is the movie's damped mean rating.
    """

    movie: Movie
    rating: float
    personalized: bool
    score: float


@dataclass(frozen=True)
class Recommendations:
    user_id: int
    personalized: bool
    model_version: str
    items: list


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
