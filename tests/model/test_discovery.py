"""Title search, one movie's details, similar movies and popular lists, on the tiny data."""

import pytest

from engine import RecommendationEngine
from recommender.datasets.movielens import load_movielens
from recommender.model.discovery import movie_details, popular_movies, search_movies, similar_movies
from recommender.model.errors import UnknownMovieError
from recommender.model.filters import Filters
from tests.support.discovery_data import FRESH_ROMANCE, UNSEEN_ACTION, write_discovery_dataset
from tests.support.tiny_data import ACTION, ROMANCE, TINY_PARAMS, UNRATED_MOVIE, tiny_ratings


@pytest.fixture(scope="module")
def model(spark, tmp_path_factory):
    directory = write_discovery_dataset(tmp_path_factory.mktemp("discovery"))
    return RecommendationEngine(**TINY_PARAMS).train(load_movielens(spark, str(directory)))


def ids(movies):
    return [details.movie.movie_id for details in movies]


@pytest.mark.parametrize("text", ["great escape", "ESCAPE great", "escape, the", "esc gre"])
def test_search_finds_a_title_with_its_words_in_any_order_case_and_prefixes(model, text):
    assert ids(search_movies(model, text, 10)) == [1]


@pytest.mark.parametrize("text", ["amelie", "AMÉLIE", "Ame\u0301lie"])
def test_search_ignores_accents(model, text):
    assert ids(search_movies(model, text, 10)) == [9]


def test_search_puts_whole_word_matches_and_short_titles_first(model):
    # "ro" starts "Ronin", "Rock" and "Romance" (twice): shortest titles first, then the most rated
    assert ids(search_movies(model, "ro", 10)) == [6, 5, FRESH_ROMANCE]
    assert ids(search_movies(model, "rock", 10)) == [5]
    assert ids(search_movies(model, "ro", 2)) == [6, 5]


def test_search_without_a_match_is_empty(model):
    assert search_movies(model, "no such film", 10) == []
    assert search_movies(model, "!!!", 10) == []


def test_details_have_year_mean_and_count(model):
    details = movie_details(model, 9)
    ratings = [r for _, m, r in tiny_ratings() if m == 9]
    assert (details.movie.title, details.year, details.movie.ratings_count) == ("Amélie (2001)", 2001, len(ratings))
    assert details.mean_rating == pytest.approx(sum(ratings) / len(ratings))
    assert movie_details(model, UNRATED_MOVIE).mean_rating is None
    with pytest.raises(UnknownMovieError):
        movie_details(model, 999)


def test_similar_movies_of_an_action_movie_are_the_other_action_movies(model):
    similar = similar_movies(model, 2, 5, 0)
    assert similar.basis == "factors"
    assert sorted(ids(d for d, _, _ in similar.items)) == [1, 3, 4, 5, 6]
    similarities = [s for _, s, _ in similar.items]
    assert similarities == sorted(similarities, reverse=True) and similarities[0] <= 1.0 + 1e-6


def test_similar_movies_drop_the_users_rated_movies_and_rare_ones(model):
    rated = model.catalog.rows([1, 3])
    assert 1 not in ids(d for d, _, _ in similar_movies(model, 2, 12, 0, rated_rows=rated).items)
    assert FRESH_ROMANCE not in ids(d for d, _, _ in similar_movies(model, 8, 14, 3).items)
    assert FRESH_ROMANCE in ids(d for d, _, _ in similar_movies(model, 8, 14, 0).items)


def test_a_movie_without_factors_gets_popular_movies_of_its_genres(model):
    similar = similar_movies(model, UNSEEN_ACTION, 3, 0)
    assert similar.basis == "genres"
    assert set(ids(d for d, _, _ in similar.items)) <= set(ACTION)
    assert [s for _, s, _ in similar.items] == [0.5, 0.5, 0.5]  # Action of Action|Thriller


def test_popular_by_count_and_by_rating(model):
    by_count = popular_movies(model, 3, "count", 0)
    counts = [d.movie.ratings_count for d, _ in by_count.items]
    assert counts == sorted(model.catalog.ratings_count, reverse=True)[:3]
    by_rating = popular_movies(model, 13, "rating", 0)
    means = [model.catalog.damped_mean[model.catalog.row(d.movie.movie_id)] for d, _ in by_rating.items]
    assert means == sorted(means, reverse=True) and UNRATED_MOVIE not in ids(d for d, _ in by_rating.items)


def test_popular_with_filters_and_new_places(model):
    popular = popular_movies(model, 4, "count", 0, Filters(genres=("romance",), new=1))
    assert [reason for _, reason in popular.items] == ["popular", "popular", "popular", "new"]
    assert popular.items[-1][0].movie.movie_id == FRESH_ROMANCE
    assert set(ids(d for d, _ in popular.items)) <= set(ROMANCE) | {FRESH_ROMANCE}
    assert popular.filters.genres == ("Romance",)
