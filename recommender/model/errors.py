"""The model's domain errors: the HTTP edge maps each to a status."""


class RecommendationError(Exception):
    """Base class of the model's domain errors."""


class NotFittedError(RecommendationError):
    """Asked to serve before a model was loaded or trained."""


class UnknownMovieError(RecommendationError, LookupError):
    """A movie id that is not in the catalog."""

    def __init__(self, movie_id):
        super().__init__(f"movie {movie_id} is not in the catalog")
        self.movie_id = movie_id


class InvalidRatingError(RecommendationError, ValueError):
    """One rating of a batch is invalid; ``index`` is its position in the batch."""

    def __init__(self, index, reason):
        super().__init__(f"rating {index}: {reason}")
        self.index = index
        self.reason = reason


class FilterError(RecommendationError, ValueError):
    """A filter that cannot apply; ``parameter`` is the Filters field that was wrong."""

    def __init__(self, parameter, reason):
        super().__init__(f"{parameter}: {reason}")
        self.parameter = parameter
        self.reason = reason
