"""The discovery routes and the filters over HTTP, on the tiny model."""

import pytest

from tests.support.tiny_data import ACTION, ROMANCE, UNRATED_MOVIE, skipped_movie, tiny_ratings


def ids(items):
    return [item["movieId"] for item in items]


def test_search_finds_titles_in_any_word_order_with_movie_fields(client):
    body = client.get("/movies?q=escape%20GREAT").get_json()
    assert body["query"] == "escape GREAT"
    assert body["movies"] == [{
        "movieId": 1, "title": "Great Escape, The (1963)", "genres": ["Action", "Adventure"], "year": 1963,
        "ratingsCount": body["movies"][0]["ratingsCount"], "meanRating": body["movies"][0]["meanRating"],
    }]
    ratings = [r for _, m, r in tiny_ratings() if m == 1]
    assert body["movies"][0]["ratingsCount"] == len(ratings)
    assert body["movies"][0]["meanRating"] == pytest.approx(sum(ratings) / len(ratings), abs=1e-4)


def test_search_is_accent_insensitive_and_limited(client):
    assert ids(client.get("/movies?q=amelie").get_json()["movies"]) == [9]
    assert len(client.get("/movies?q=1&limit=2").get_json()["movies"]) == 2


@pytest.mark.parametrize("url, parameter", [
    ("/movies", "q"), ("/movies?q=%20", "q"), ("/movies?q=a&limit=0", "limit"), ("/movies/x", "movie_id"),
    ("/movies/1/similar/0", "count"), ("/movies/popular/3?by=stars", "by"), ("/movies/popular/3?user=-1", "user"),
    ("/1/ratings/top/3?genre=Westerns", "genre"), ("/1/ratings/top/3?exclude=1,x", "exclude"),
    ("/1/ratings/top/3?include=" + ",".join(map(str, range(1001))), "include"),
    ("/1/ratings/top/3?exclude_popular=-2", "exclude_popular"), ("/1/ratings/top/3?new=many", "new"),
    ("/movies/1/similar/3?genre=", "genre"), ("/movies/popular/3?genre=Nope", "genre"),
])
def test_bad_parameters_are_400_naming_them(client, url, parameter):
    response = client.get(url)
    assert response.status_code == 400 and response.get_json()["error"].startswith(parameter)


def test_an_unknown_genre_lists_the_known_ones(client):
    error = client.get("/1/ratings/top/3?genre=Western").get_json()["error"]
    assert "Western" in error and "Action, Adventure, Comedy, Crime, Drama, Romance" in error


def test_one_movie_and_an_unknown_one(client):
    body = client.get("/movies/13").get_json()
    assert (body["title"], body["year"], body["ratingsCount"], body["meanRating"]) == ("Never Rated (2000)", 2000, 0, None)
    assert client.get("/movies/999").status_code == 404
    assert client.get("/movies/999/similar/3").status_code == 404


def test_popular_is_not_taken_for_a_movie_id(client):
    body = client.get("/movies/popular/3?by=count").get_json()
    assert body["by"] == "count" and len(body["movies"]) == 3
    assert {movie["reason"] for movie in body["movies"]} == {"popular"}


def test_similar_movies_of_an_action_movie_and_without_the_users_rated(client):
    body = client.get("/movies/2/similar/5").get_json()
    assert body["basis"] == "factors" and sorted(ids(body["similar"])) == [1, 3, 4, 5, 6]
    mine = client.get("/movies/2/similar/5?user=1").get_json()["similar"]
    assert ids(mine) and set(ids(mine)) <= {skipped_movie(1)} | set(ROMANCE)  # user 1 rated the rest of ACTION


def test_popular_drops_the_users_rated_movies(client):
    rated = set(ids(client.get("/1/ratings").get_json()["ratings"]))
    popular = ids(client.get("/movies/popular/13?user=1").get_json()["movies"])
    assert popular and not rated & set(popular)


def test_top_n_with_genre_exclude_and_echoed_filters(client):
    # user 14, a romance fan, rated action movies 3 to 6: of action, 1 and 2 are left
    body = client.get("/14/ratings/top/3?genre=action&exclude=1").get_json()
    assert body["filters"] == {"genres": ["Action"], "exclude": [1]}
    assert ids(body["recommendations"]) == [2] and body["candidates"] == 1
    assert body["recommendations"][0]["reason"] == "personalized"


def test_include_exclude_popular_and_how_many_candidates_remained(client):
    body = client.get("/1/ratings/top/5?include=7,8,9,13&exclude_popular=1").get_json()
    most_rated = ids(client.get("/movies/popular/1?by=count").get_json()["movies"])[0]
    rated = set(ids(client.get("/1/ratings").get_json()["ratings"]))
    expected = {7, 8, 9} - rated - {most_rated}  # 13 has no factors
    assert set(ids(body["recommendations"])) == expected and body["candidates"] == len(expected)
    assert "candidates" not in client.get("/1/ratings/top/2").get_json()


def test_new_places_go_to_the_newest_unrated_movies(client, new_user_id):
    first_rating = {}
    for index, (_, movie, _) in enumerate(tiny_ratings()):
        first_rating.setdefault(movie, index)
    newest = sorted(first_rating, key=first_rating.get, reverse=True)[:2]
    body = client.get(f"/{new_user_id}/ratings/top/4?new=2").get_json()
    assert [item["reason"] for item in body["recommendations"]] == ["popular", "popular", "new", "new"]
    assert ids(body["recommendations"])[2:] == newest
    assert not set(newest) & set(ids(body["recommendations"])[:2])
    assert body["filters"] == {"new": 2}


def test_invocations_take_the_filters_as_json_keys(client):
    body = client.post("/invocations", json={"userId": 11, "count": 3, "genres": ["Action"], "exclude": [1]}).get_json()
    assert body == client.get("/11/ratings/top/3?genre=Action&exclude=1").get_json()
    bad = client.post("/invocations", json={"userId": 1, "genres": ["Nope"]})
    assert bad.status_code == 400 and bad.get_json()["error"].startswith("genres")
    bad = client.post("/invocations", json={"userId": 1, "excludePopular": -1})
    assert bad.status_code == 400 and bad.get_json()["error"].startswith("excludePopular")


def test_the_cold_start_list_is_popular_and_takes_filters(client, new_user_id):
    body = client.get(f"/{new_user_id}/ratings/top/3?genre=Romance").get_json()
    assert not body["personalized"] and set(ids(body["recommendations"])) <= set(ROMANCE)
    assert {item["reason"] for item in body["recommendations"]} == {"popular"}
    assert UNRATED_MOVIE not in ids(body["recommendations"])
