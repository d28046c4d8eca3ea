import io

import pytest

from app import create_app
from tests.support.tiny_data import skipped_movie, tiny_ratings
from engine import RecommendationEngine
from recommender.service.retraining import Retrainer

FORM = "application/x-www-form-urlencoded"  # what curl --data-binary labels a file


def post_lines(client, user, text, content_type=FORM):
    body = text.encode("utf-8") if isinstance(text, str) else text
    return client.post(f"/{user}/ratings", data=body, content_type=content_type)


def assert_error(response, status, *fragments):
    assert response.status_code == status
    assert response.mimetype == "application/json"
    message = response.get_json()["error"]
    for fragment in fragments:
        assert fragment in message
    return message


def test_top_ratings_shape_and_known_answer(client):
    response = client.get("/1/ratings/top/2")
    assert response.status_code == 200
    body = response.get_json()
    assert body["userId"] == 1 and body["personalized"] is True and body["modelVersion"]
    first = body["recommendations"][0]
    assert list(first) == ["movieId", "title", "genres", "predictedRating", "score", "ratingsCount", "reason"]
    assert first["movieId"] == skipped_movie(1) and isinstance(first["genres"], list)
    assert len(body["recommendations"]) == 2


def test_titles_and_genres_come_out_whole_in_utf8(client):
    movie = client.get("/1/ratings/1").get_json()
    assert (movie["title"], movie["genres"]) == ("Great Escape, The (1963)", ["Action", "Adventure"])
    assert client.get("/1/ratings/7").get_json()["title"] == 'Say "Anything" (1989)'
    assert client.get("/1/ratings/13").get_json()["genres"] == []
    assert "Amélie".encode() in client.get("/1/ratings/9").data  # raw UTF-8, not \u escapes


def test_min_ratings_query_parameter(client):
    assert client.get("/1/ratings/top/10?min_ratings=100000").get_json()["recommendations"] == []
    assert_error(client.get("/1/ratings/top/10?min_ratings=-1"), 400, "min_ratings")
    assert_error(client.get("/1/ratings/top/10?min_ratings=many"), 400, "min_ratings", "'many'")


def test_order_query_parameter(client):
    by_relevance = client.get("/1/ratings/top/10").get_json()["recommendations"]
    assert client.get("/1/ratings/top/10?order=relevance").get_json()["recommendations"] == by_relevance
    by_rating = client.get("/1/ratings/top/10?order=rating").get_json()["recommendations"]
    scores, ratings = [item["score"] for item in by_relevance], [item["predictedRating"] for item in by_rating]
    assert scores == sorted(scores, reverse=True) and ratings == sorted(ratings, reverse=True)
    assert sorted(i["movieId"] for i in by_relevance) == sorted(i["movieId"] for i in by_rating)
    assert [i["movieId"] for i in by_relevance] != [i["movieId"] for i in by_rating]  # the two models disagree
    assert_error(client.get("/1/ratings/top/10?order=newest"), 400, "order", "relevance, rating", '"newest"')


def test_a_user_with_no_ratings_gets_a_cold_start_list(client):
    body = client.get("/777777/ratings/top/5").get_json()
    assert body["personalized"] is False and len(body["recommendations"]) == 5


@pytest.mark.parametrize(
    "path, name",
    [
        ("/1/ratings/top/0", "count"),
        ("/1/ratings/top/51", "count"),
        ("/1/ratings/top/ten", "count"),
        ("/abc/ratings/top/10", "user_id"),
        ("/2147483648/ratings", "user_id"),
        ("/99999999999999999999999/ratings/1", "user_id"),
        ("/1/ratings/x1", "movie_id"),
        ("/1/ratings/-5", "movie_id"),
    ],
)
def test_malformed_path_parameters_are_400(client, path, name):
    assert_error(client.get(path), 400, name)


def test_predicted_rating_for_one_movie(client):
    body = client.get(f"/1/ratings/{skipped_movie(1)}").get_json()
    assert body["userId"] == 1 and body["movieId"] == skipped_movie(1) and body["personalized"] is True
    assert 4.0 < body["predictedRating"] <= 5.0
    top = client.get("/1/ratings/top/1").get_json()["recommendations"][0]
    assert (body["predictedRating"], body["score"]) == (top["predictedRating"], top["score"])
    assert body["title"] and body["ratingsCount"] > 0
    cold = client.get("/777777/ratings/1").get_json()
    assert cold["personalized"] is False


def test_an_unknown_movie_is_404(client):
    assert_error(client.get("/1/ratings/424242"), 404, "movie 424242 is not in the catalog")


def test_own_ratings(client):
    body = client.get("/1/ratings").get_json()
    expected = sorted((m, r) for u, m, r in tiny_ratings() if u == 1)
    assert [(r["movieId"], r["rating"]) for r in body["ratings"]] == expected
    assert all(r["title"] for r in body["ratings"])
    empty = client.get("/777777/ratings").get_json()
    assert (empty["userId"], empty["ratings"]) == (777777, [])


def test_curl_style_post_is_applied_and_read_back(client, new_user_id):
    response = post_lines(client, new_user_id, "1,5\r\n\n 2 , 4.5 \n7,1.0\n")
    assert response.status_code == 201
    assert [(r["movieId"], r["rating"]) for r in response.get_json()["ratings"]] == [(1, 5.0), (2, 4.5), (7, 1.0)]
    own = client.get(f"/{new_user_id}/ratings").get_json()["ratings"]
    assert [(r["movieId"], r["rating"]) for r in own] == [(1, 5.0), (2, 4.5), (7, 1.0)]
    top = client.get(f"/{new_user_id}/ratings/top/4").get_json()
    assert top["personalized"] is True
    assert {item["movieId"] for item in top["recommendations"]} == {3, 4, 5, 6}


def test_json_post(client, new_user_id):
    response = client.post(f"/{new_user_id}/ratings", json=[{"movieId": 8, "rating": 4}, {"movieId": 9, "rating": 4.5}])
    assert response.status_code == 201
    assert len(client.get(f"/{new_user_id}/ratings").get_json()["ratings"]) == 2


@pytest.mark.parametrize(
    "body, fragments",
    [
        ("1,5\n2,9\n", ["line 2", "rating 9 is outside the scale 1 to 5"]),
        ("1,5\n\n3,4,5\n", ["line 3", "expected 'movie_id,rating'"]),
        ("1,5\n999,4\n", ["line 2", "movie 999 is not in the catalog"]),
        ("1,5\nx,4\n", ["line 2", "movie id 'x'"]),
        ("1,five\n", ["line 1", "rating 'five' is not a number"]),
        ("1,nan\n", ["line 1", "rating 'nan'"]),
        ("1,5\n1,4\n", ["line 2", "rated twice"]),
        ("99999999999999999999,4\n", ["line 1", "movie id"]),
        ("\n \n", ["no ratings"]),
        (b"1,5\n\xff\xfe,4\n", ["not UTF-8"]),
    ],
)
def test_an_invalid_text_body_is_400_and_nothing_is_applied(client, new_user_id, body, fragments):
    message = assert_error(post_lines(client, new_user_id, body), 400, *fragments)
    if "line" in fragments[0]:
        assert "nothing was applied" in message
    assert client.get(f"/{new_user_id}/ratings").get_json()["ratings"] == []


@pytest.mark.parametrize(
    "body, fragments",
    [
        ("[{\"movieId\": 1, \"rating\": 5}, {\"movieId\": 2}]", ["item 2", "rating must be a number"]),
        ("[{\"movieId\": true, \"rating\": 5}]", ["item 1", "movieId"]),
        ("[{\"movieId\": 1, \"rating\": \"5\"}]", ["item 1", "rating"]),
        ("[{\"movieId\": 1, \"rating\": 1e999}]", ["item 1", "rating"]),
        ("[1, 2]", ["item 1"]),
        ("{\"movieId\": 1}", ["JSON list"]),
        ("[]", ["JSON list"]),
        ("[{", ["not valid JSON"]),
        ("[" * 3000, ["not valid JSON"]),  # deeper than the parser recurses
    ],
)
def test_an_invalid_json_body_is_400_and_nothing_is_applied(client, new_user_id, body, fragments):
    assert_error(post_lines(client, new_user_id, body, "application/json"), 400, *fragments)
    assert client.get(f"/{new_user_id}/ratings").get_json()["ratings"] == []


def test_a_body_over_the_limit_is_413(client, new_user_id):
    body = "1,5\n" * 2000  # 8000 bytes against the fixture's 4096
    assert_error(post_lines(client, new_user_id, body), 413)
    assert client.get(f"/{new_user_id}/ratings").get_json()["ratings"] == []


def test_wrong_method_is_405_with_allow_header(client):
    response = client.delete("/1/ratings")
    assert_error(response, 405)
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}
    assert_error(client.post("/1/ratings/top/10"), 405)
    assert_error(client.put("/health"), 405)


def test_unknown_route_is_json_404(client):
    assert_error(client.get("/no/such/route"), 404)


def test_health(client, tiny_engine):
    body = client.get("/health").get_json()
    assert body["status"] == "ok" and body["ready"] is True and body["model"]["rank"] == 4
    model = body["model"]
    assert (model["users"], model["movies"], model["ratings"]) == (20, 13, len(tiny_ratings()))
    assert model["modelVersion"] == tiny_engine.summary().version and model["trainedAt"]


def test_every_response_carries_the_model_version(client, tiny_engine):
    version = tiny_engine.model.version
    for response in (client.get("/1/ratings/top/3"), client.get("/1/ratings/2"), client.get("/1/ratings")):
        assert response.headers["X-Model-Version"] == version
        assert response.get_json()["modelVersion"] == version
    assert client.get("/1/ratings/424242").headers["X-Model-Version"] == version


def test_before_a_model_is_loaded_health_is_200_and_the_rest_503():
    client = create_app(RecommendationEngine()).test_client()
    health = client.get("/health")
    assert health.status_code == 200 and health.get_json()["ready"] is False
    for response in (client.get("/ready"), client.get("/1/ratings/top/10"), post_lines(client, 1, "1,5\n")):
        assert_error(response, 503, "still loading")
        assert response.headers["Retry-After"] == "5"


@pytest.mark.parametrize(
    "keys, header, status",
    [
        ((), "Bearer anything", 403),
        (("k1", "s3cret"), None, 401),
        (("k1", "s3cret"), "Bearer wrong", 401),
        (("k1", "s3cret"), "Basic s3cret", 401),
        (("k1", "s3cret"), "Bearer s3cret", 202),
        (("k1", "s3cret"), "bearer  k1 ", 202),
    ],
)
def test_admin_retrain_needs_a_configured_api_key(tiny_engine, keys, header, status):
    retrainer = RecordingRetrainer(tiny_engine, train=lambda: None)  # not started: requests are only counted
    client = create_app(tiny_engine, {"API_KEYS": keys}, retrainer).test_client()
    response = client.post("/admin/retrain", headers={"Authorization": header} if header else {})
    assert response.status_code == status and response.mimetype == "application/json"
    assert retrainer.requests == (1 if status == 202 else 0)
    if status == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"


class RecordingRetrainer(Retrainer):
    """A retrainer that counts the retrains the app asks for."""

    requests = 0

    def request(self):
        self.requests += 1
        super().request()


@pytest.fixture
def keyed_client(tiny_engine):
    return create_app(tiny_engine, {"API_KEYS": ("s3cret",), "DEFAULT_MIN_RATINGS": 0}).test_client()


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}, {"Authorization": "Bearer s3cret2"}],
)
def test_with_api_keys_a_post_without_the_key_is_401_and_writes_nothing(keyed_client, new_user_id, headers):
    response = keyed_client.post(f"/{new_user_id}/ratings", data=b"1,5\n", headers=headers)
    assert_error(response, 401, "Authorization: Bearer")
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert keyed_client.get(f"/{new_user_id}/ratings").get_json()["ratings"] == []


def test_with_api_keys_the_key_in_the_url_is_not_accepted(keyed_client, new_user_id):
    assert keyed_client.post(f"/{new_user_id}/ratings?api_key=s3cret&key=s3cret", data=b"1,5\n").status_code == 401


def test_with_api_keys_a_post_with_the_key_is_applied_and_reads_stay_open(keyed_client, new_user_id):
    response = keyed_client.post(f"/{new_user_id}/ratings", data=b"1,5\n", headers={"Authorization": "Bearer s3cret"})
    assert response.status_code == 201
    assert keyed_client.get(f"/{new_user_id}/ratings").get_json()["ratings"][0]["movieId"] == 1
    assert keyed_client.get("/1/ratings/top/3").status_code == 200


def test_protect_reads_needs_the_key_on_data_routes_only(tiny_engine):
    client = create_app(tiny_engine, {"API_KEYS": ("s3cret",), "PROTECT_READS": True}).test_client()
    for path in ("/1/ratings/top/3", "/1/ratings/1", "/1/ratings"):
        assert_error(client.get(path), 401, "Bearer")
        assert client.get(path, headers={"Authorization": "Bearer s3cret"}).status_code == 200
    for path in ("/health", "/ready", "/metrics"):
        assert client.get(path).status_code == 200


def test_an_invalid_batch_with_the_key_is_still_400(keyed_client, new_user_id):
    response = keyed_client.post(f"/{new_user_id}/ratings", data=b"1,9\n", headers={"Authorization": "Bearer s3cret"})
    assert_error(response, 400, "line 1")


def ratings_body(movies, content_type):
    if content_type == "application/json":
        return "[" + ",".join(f'{{"movieId": {m}, "rating": 4}}' for m in movies) + "]"
    return "".join(f"{m},4\n\n" for m in movies)  # blank lines do not count


@pytest.mark.parametrize("content_type, unit", [(FORM, "lines"), ("application/json", "items")])
def test_more_ratings_than_max_lines_is_400_and_nothing_applied(tiny_engine, new_user_id, content_type, unit):
    client = create_app(tiny_engine, {"MAX_LINES": 3}).test_client()
    response = post_lines(client, new_user_id, ratings_body([1, 2, 3, 4], content_type), content_type)
    assert_error(response, 400, f"more than 3 ratings {unit}")
    assert client.get(f"/{new_user_id}/ratings").get_json()["ratings"] == []
    assert post_lines(client, new_user_id, ratings_body([1, 2, 3], content_type), content_type).status_code == 201


def post_chunked(client, user, body):
    """As a server that terminates chunked bodies (cheroot) hands them over: no Content-Length."""
    return client.post(f"/{user}/ratings", input_stream=io.BytesIO(body), content_type=FORM,
                       environ_overrides={"wsgi.input_terminated": True})


def test_a_chunked_body_over_the_limit_is_413_even_when_cut_at_a_line_end(tiny_engine, new_user_id):
    client = create_app(tiny_engine, {"MAX_CONTENT_LENGTH": 16}).test_client()
    response = post_chunked(client, new_user_id, b"1,5\n2,4\n3,3\n4,2\n5,1\n")  # 20 bytes; 16 are 4 whole lines
    assert_error(response, 413, "over the limit of 16 bytes")
    assert client.get(f"/{new_user_id}/ratings").get_json()["ratings"] == []
    assert post_chunked(client, new_user_id, b"1,5\n2,4\n3,3\n").status_code == 201


def test_a_body_of_exactly_the_limit_is_accepted(tiny_engine, new_user_id):
    client = create_app(tiny_engine, {"MAX_CONTENT_LENGTH": 16}).test_client()
    assert post_lines(client, new_user_id, "1,5\n2,4\n3,3\n4,2\n").status_code == 201


def test_debug_mode_cannot_be_turned_on(tiny_engine, monkeypatch):
    monkeypatch.setenv("FLASK_DEBUG", "1")
    app = create_app(BrokenEngine())
    assert app.debug is False
    assert_error(app.test_client().get("/1/ratings"), 500, "internal server error")
    with pytest.raises(ValueError, match="debug mode"):
        create_app(tiny_engine, {"DEBUG": True})


class BrokenEngine:
    model = None

    def user_ratings(self, user_id):
        raise RuntimeError("secret internal detail")


def test_an_unexpected_error_is_a_json_500_without_internals():
    response = create_app(BrokenEngine()).test_client().get("/1/ratings")
    message = assert_error(response, 500)
    assert message == "internal server error"
    assert b"secret" not in response.data and b"Traceback" not in response.data
