"""Business rules on any list of movies: genres, excluded and allowed movies, no blockbusters, new movies.

A ``Filters`` value is checked against a model once (``check``), then turned into a boolean
mask over the catalog's rows (``candidate_mask``) that the top-N, similar and popular
lists all apply the same way, through ``pick``.
"""

from dataclasses import dataclass

import numpy as np

from recommender.limits import MAX_FILTER_IDS, MAX_ID
from recommender.model.errors import FilterError
from recommender.model.model_cache import cached
from recommender.model.scoring import top_rows


@dataclass(frozen=True)
class Filters:
    """What a list may hold.

    Attributes
    ----------
    genres : tuple of str
        Only movies of any of these genres (empty: any genre).
    exclude : tuple of int
        Never these movies.
    include : tuple of int or None
        Only these movies (an allowed set); None allows every movie.
    exclude_popular : int
        Drop the catalog's this many most-rated movies.
    new : int
        Reserve up to this many places for the newest movies (by first rating).
    """

    genres: tuple = ()
    exclude: tuple = ()
    include: tuple = None
    exclude_popular: int = 0
    new: int = 0

    def applied(self):
        """The filters given, by field name, for echoing back (an empty allowed set is one)."""
        given = {
            "genres": list(self.genres), "exclude": list(self.exclude),
            "exclude_popular": self.exclude_popular, "new": self.new,
        }
        shown = {name: value for name, value in given.items() if value}
        if self.include is not None:
            shown["include"] = list(self.include)
        return shown

    def check(self, model):
        """The filters with genres spelled as the catalog spells them, or FilterError.

        Raises
        ------
        FilterError
            For an unknown genre (listing the known ones), a list over MAX_FILTER_IDS ids,
            an id out of range, or a negative count.
        """
        if self == NO_FILTERS:
            return self
        for name in ("exclude", "include"):
            ids = getattr(self, name)
            if ids is not None and len(ids) > MAX_FILTER_IDS:
                raise FilterError(name, f"at most {MAX_FILTER_IDS} movie ids, got {len(ids)}")
            if ids is not None and any(not 0 <= i <= MAX_ID for i in ids):
                raise FilterError(name, f"movie ids must be integers from 0 to {MAX_ID}")
        for name in ("exclude_popular", "new"):
            if not 0 <= getattr(self, name) <= MAX_ID:
                raise FilterError(name, f"must be an integer from 0 to {MAX_ID}")
        known = genre_masks(model)
        spelled = {genre.casefold(): genre for genre in known}
        unknown = [genre for genre in self.genres if genre.casefold() not in spelled]
        if unknown:
            raise FilterError("genres", f"unknown genre {unknown[0][:50]!r}; known genres: {', '.join(sorted(known))}")
        genres = tuple(dict.fromkeys(spelled[genre.casefold()] for genre in self.genres))
        return Filters(genres, self.exclude, self.include, self.exclude_popular, self.new)


NO_FILTERS = Filters()


def genre_masks(model):
    """Genre name -> bool mask of the catalog's rows of that genre, built once per model."""
    def build():
        masks = {}
        for row, genres in enumerate(model.catalog.genres):
            for genre in genres:
                masks.setdefault(genre, np.zeros(len(model.catalog.movie_ids), bool))[row] = True
        return masks

    return cached(model, "genre_masks", build)


def most_rated_rows(model):
    """Catalog rows by ratings count, most rated first (ties by movie id), built once per model."""
    return cached(model, "most_rated_rows", lambda: np.argsort(-model.catalog.ratings_count, kind="stable"))


def candidate_mask(model, filters):
    """Bool mask over the catalog's rows of the movies ``filters`` (already checked) allow."""
    catalog = model.catalog
    mask = np.ones(len(catalog.movie_ids), bool)
    if filters.genres:
        masks = genre_masks(model)
        mask = np.logical_or.reduce([masks[genre] for genre in filters.genres])
    if filters.include is not None:
        allowed = np.zeros_like(mask)
        allowed[catalog_rows(catalog, filters.include)] = True
        mask &= allowed
    if filters.exclude:
        mask[catalog_rows(catalog, filters.exclude)] = False
    if filters.exclude_popular:
        mask[most_rated_rows(model)[:filters.exclude_popular]] = False
    return mask


def catalog_rows(catalog, movie_ids):
    """Rows of the movie ids that are in the catalog; ids it lacks are passed over."""
    ids = np.asarray(movie_ids, np.int64)
    return catalog.rows(ids[catalog.known(ids)]) if len(ids) else np.empty(0, np.int64)


def newest_rows(model, allowed, count):
    """Up to ``count`` rows of ``allowed`` with a first rating, newest first (ties: higher id first)."""
    first = model.catalog.first_rated
    rows = np.flatnonzero(allowed & (first >= 0))
    if count < len(rows):
        rows = rows[np.argpartition(-first[rows], count - 1)[:count]]
    return rows[np.lexsort((-rows, -first[rows]))]


def pick(model, scores, eligible, filters, excluded_rows, count):
    """The rows of a list: the best of ``scores``, with up to ``filters.new`` places kept for new movies.

    Parameters
    ----------
    scores : numpy.ndarray
        Higher is better, over the catalog's rows.
    eligible : numpy.ndarray
        Bool mask of the rows the list's own rules allow (min ratings, factors).
    filters : Filters
        Checked filters.
    excluded_rows : numpy.ndarray
        Rows never shown (the user's rated movies, the movie itself).
    count : int

    Returns
    -------
    tuple
        (ranked rows, new rows, candidates): the best rows by score, the newest movies
        appended after them, and how many movies were left to choose from when they
        were fewer than ``count`` (None when the list is full).
    """
    allowed = candidate_mask(model, filters)
    allowed[excluded_rows] = False
    new = newest_rows(model, allowed, min(filters.new, count)) if filters.new else np.empty(0, np.int64)
    allowed &= eligible
    allowed[new] = False
    ranked = np.where(allowed, scores, -np.inf)
    candidates = int(np.count_nonzero(np.isfinite(ranked))) + len(new)
    candidates = candidates if candidates < count else None
    best = top_rows(ranked, count - len(new)) if count > len(new) else np.empty(0, np.int64)
    return best, new, candidates
