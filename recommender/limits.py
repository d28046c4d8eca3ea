"""Bounds and defaults shared by the data, the model and the API, each defined once here."""

MAX_ID = 2**31 - 1  # Spark ALS ids are 32-bit integers
DEFAULT_MIN_RATINGS = 25  # candidates of a top-N list need this many ratings, as in the tutorial
MIN_CANDIDATES = 100  # movies the fitted min_ratings keeps at least (half the rated ones in a smaller catalog)
DEFAULT_COUNT = 10  # movies in a list when the caller does not say
RELEVANT_RATING = 4.0  # a held-out rating at least this high is a movie the user liked
MAX_FILTER_IDS = 1000  # movie ids in one exclude or include list
MAX_QUERY_LENGTH = 200  # characters of a title search
FEW_RATINGS = 10  # a user with at most this many ratings gets the genre blend of the ranking score
GENRE_WEIGHT = 0.5  # the genre affinity's weight in that blend, standardized scores (docs/evaluation.md)
