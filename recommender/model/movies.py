"""The movies of a trained model: ids in catalog order with titles, genres and rating statistics."""

import math
import re
from dataclasses import dataclass

import numpy as np

from recommender.limits import MAX_ID
from recommender.model.results import Movie, MovieDetails

YEAR = re.compile(r"\((\d{4})(?:[-\u2013]\d{0,4})?\)\s*$")  # MovieLens's "Title (1995)", or "(2009-2011)" of series


@dataclass(frozen=True)
class MovieTable:
    """Movies in catalog order (ascending id) with their rating statistics."""

    movie_ids: np.ndarray  # int64, sorted
    titles: list
    genres: list  # tuples of genre names
    ratings_count: np.ndarray  # int64
    damped_mean: np.ndarray  # float64, the popularity score of non-personalized lists
    mean_rating: np.ndarray = None  # float64, NaN for a movie without ratings
    first_rated: np.ndarray = None  # int64, timestamp of the movie's first training rating; -1 when none

    def row(self, movie_id):
        """Row of ``movie_id``, or -1 when it is not in the catalog."""
        if not 0 <= movie_id <= MAX_ID:
            return -1
        row = int(self.movie_ids.searchsorted(movie_id))  # the method: no wrapper per request
        if row < len(self.movie_ids) and self.movie_ids[row] == movie_id:
            return row
        return -1

    def rows(self, movie_ids):
        """Rows of an array of catalog movie ids."""
        return self.movie_ids.searchsorted(movie_ids).astype(np.int64, copy=False)

    def known(self, movie_ids):
        """Which of an array of movie ids are in the catalog."""
        return self.lookup(movie_ids)[1]

    def lookup(self, movie_ids):
        """``(rows, known)`` of an array of movie ids, one search for both; a row is meaningless where not known."""
        rows = self.rows(movie_ids)
        return rows, self.movie_ids[np.minimum(rows, len(self.movie_ids) - 1)] == movie_ids

    def movie(self, row):
        return Movie(
            movie_id=int(self.movie_ids[row]),
            title=self.titles[row],
            genres=self.genres[row],
            ratings_count=int(self.ratings_count[row]),
        )


    def details(self, row):
        """The movie of ``row`` with its year (from the title) and mean rating, each None when unknown."""
        mean = float(self.mean_rating[row])
        return MovieDetails(self.movie(row), year_of(self.titles[row]), None if math.isnan(mean) else mean)


def year_of(title):
    """The year a MovieLens title ends with, ``(1995)``; None when it has none."""
    found = YEAR.search(title or "")
    return int(found.group(1)) if found else None


def parse_genres(genres):
    """MovieLens's ``A|B`` genres as a tuple; none for an empty field or ``(no genres listed)``."""
    if not genres or genres == "(no genres listed)":
        return ()
    return tuple(genres.split("|"))
