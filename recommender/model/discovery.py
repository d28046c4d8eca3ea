"""Finding movies without a user: title search, similar movies, popular lists.

Everything is answered from the driver's arrays; what search and similarity need (a word
index of the titles, unit-length factors) is built once per TrainedModel, by the first
request that needs it (recommender.model.model_cache).
"""

import bisect
import re
import unicodedata
from dataclasses import dataclass

import numpy as np

from recommender.model.errors import UnknownMovieError
from recommender.model.filters import NO_FILTERS, pick
from recommender.model.model_cache import cached
from recommender.model.results import PopularMovies, SimilarMovies

WORD = re.compile(r"\w+")
LAST_CHARACTER = "\U0010ffff"  # sorts after every word with the same prefix
POPULAR_ORDERS = ("rating", "count")


def words_of(text):
    """The words of ``text``, case- and accent-insensitive: "Amélie" and "AMELIE" are both ``amelie``."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(character for character in decomposed if not unicodedata.combining(character))
    return WORD.findall(plain.casefold())


@dataclass(frozen=True)
class TitleIndex:
    """The catalog's title words: a sorted vocabulary, the rows holding each word, words per title."""

    vocabulary: list
    postings: list  # numpy row arrays, aligned with vocabulary
    title_lengths: np.ndarray

    @classmethod
    def build(cls, titles):
        rows_of = {}
        lengths = np.zeros(len(titles), np.int64)
        for row, title in enumerate(titles):
            words = words_of(title or "")
            lengths[row] = len(words)
            for word in set(words):
                rows_of.setdefault(word, []).append(row)
        vocabulary = sorted(rows_of)
        return cls(vocabulary, [np.array(rows_of[word], np.int64) for word in vocabulary], lengths)

    def rows(self, word):
        """(rows with a word starting with ``word``, rows with ``word`` itself)."""
        begin = bisect.bisect_left(self.vocabulary, word)
        end = bisect.bisect_left(self.vocabulary, word + LAST_CHARACTER, begin)
        if begin == end:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        exact = self.postings[begin] if self.vocabulary[begin] == word else np.empty(0, np.int64)
        return np.unique(np.concatenate(self.postings[begin:end])), exact


def title_index(model):
    return cached(model, "title_index", lambda: TitleIndex.build(model.catalog.titles))


def search_movies(model, text, limit):
    """Movies whose titles have every word of ``text`` (as a word or a word's start), in any order.

    Best matches first: more query words matched whole, then shorter titles, then more
    ratings, then lower ids.

    Returns
    -------
    list of recommender.model.results.MovieDetails
    """
    index = title_index(model)
    found, whole = None, np.zeros(len(model.catalog.movie_ids), np.int64)
    for word in dict.fromkeys(words_of(text)):
        rows, exact = index.rows(word)
        found = rows if found is None else np.intersect1d(found, rows, assume_unique=True)
        whole[exact] += 1
        if not len(found):
            break
    if found is None or not len(found):
        return []
    counts = model.catalog.ratings_count[found]
    order = np.lexsort((found, -counts, index.title_lengths[found], -whole[found]))[:limit]
    return [model.catalog.details(row) for row in found[order]]


def movie_details(model, movie_id):
    """One movie's MovieDetails; UnknownMovieError when it is not in the catalog."""
    row = model.catalog.row(movie_id)
    if row < 0:
        raise UnknownMovieError(movie_id)
    return model.catalog.details(row)


def similarity_factors(model):
    """The item factors similar movies are measured with (one place to choose them)."""
    return model.item_factors


def unit_factors(model):
    """``similarity_factors`` scaled to unit length (zero rows stay zero), built once per model."""
    def build():
        factors = similarity_factors(model).astype(np.float32)
        norms = np.linalg.norm(factors, axis=1, keepdims=True)
        return np.divide(factors, norms, out=np.zeros_like(factors), where=norms > 0)

    return cached(model, "unit_factors", build)


def genre_similarity(model, row):
    """Jaccard similarity of every movie's genres to ``row``'s (0 for movies without genres)."""
    mine = set(model.catalog.genres[row])
    if not mine:
        return np.zeros(len(model.catalog.movie_ids))
    return np.array([len(mine & set(g)) / len(mine | set(g)) for g in model.catalog.genres])


def similar_movies(model, movie_id, count, min_ratings, filters=NO_FILTERS, rated_rows=()):
    """The ``count`` movies most like ``movie_id``, itself and ``rated_rows`` excluded.

    Cosine similarity of item factors; a movie without factors (no ratings yet) gets the
    popular movies sharing most of its genres, with basis "genres".

    Returns
    -------
    SimilarMovies
    """
    filters = filters.check(model)
    row = model.catalog.row(movie_id)
    if row < 0:
        raise UnknownMovieError(movie_id)
    popular_enough = model.catalog.ratings_count >= max(min_ratings, 1)
    if model.has_factors[row]:
        basis, similarity = "factors", unit_factors(model) @ unit_factors(model)[row]
        eligible, scores = popular_enough & model.has_factors, similarity
    else:
        basis, similarity = "genres", genre_similarity(model, row)
        # most shared genres first, the better damped mean among equals
        eligible = popular_enough & (similarity > 0)
        scores = similarity * (1 + model.catalog.damped_mean.max()) + model.catalog.damped_mean
    excluded = np.append(np.asarray(rated_rows, np.int64), row)
    best, new, candidates = pick(model, scores, eligible, filters, excluded, count)
    items = [(model.catalog.details(r), float(similarity[r]), "similar") for r in best]
    items += [(model.catalog.details(r), float(similarity[r]), "new") for r in new]
    return SimilarMovies(model.catalog.details(row), basis, items, filters, candidates, model.version)


def popular_movies(model, count, by, min_ratings, filters=NO_FILTERS, rated_rows=()):
    """The ``count`` most popular movies ``by`` "rating" (damped mean, as cold start) or "count".

    Returns
    -------
    PopularMovies
    """
    if by not in POPULAR_ORDERS:
        raise ValueError(f"by must be one of {POPULAR_ORDERS}, got {by!r}")
    filters = filters.check(model)
    catalog = model.catalog
    scores = catalog.damped_mean if by == "rating" else catalog.ratings_count.astype(np.float64)
    eligible = catalog.ratings_count >= max(min_ratings, 1)
    best, new, candidates = pick(model, scores, eligible, filters, np.asarray(rated_rows, np.int64), count)
    items = [(catalog.details(r), "popular") for r in best] + [(catalog.details(r), "new") for r in new]
    return PopularMovies(by, items, filters, candidates, model.version)
