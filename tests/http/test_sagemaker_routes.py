"""SageMaker's serving routes on the tiny engine: /ping and /invocations."""

import json

import pytest

from app import create_app
from engine import RecommendationEngine
from tests.support.tiny_data import skipped_movie


def post_invocation(client, body):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post("/invocations", data=data, content_type="text/csv")  # any content type is read as JSON


def test_ping_answers_the_loaded_model_version(client, tiny_engine):
    response = client.get("/ping")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "modelVersion": tiny_engine.model.version}


def test_ping_and_invocations_are_503_until_a_model_is_loaded():
    client = create_app(RecommendationEngine()).test_client()
    for response in (client.get("/ping"), post_invocation(client, {"userId": 1})):
        assert response.status_code == 503 and response.headers["Retry-After"] == "5"
        assert "loading" in response.get_json()["error"]


def test_one_user_gets_exactly_the_top_n_routes_body(client):
    response = post_invocation(client, {"userId": 1, "count": 3})
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    assert body == client.get("/1/ratings/top/3").get_json()
    assert body["recommendations"][0]["movieId"] == skipped_movie(1)


def test_a_batch_answers_each_users_body_in_order(client):
    body = post_invocation(client, {"userIds": [11, 1, 777777], "count": 2, "minRatings": 0}).get_json()
    assert body == {"results": [client.get(f"/{user}/ratings/top/2").get_json() for user in (11, 1, 777777)]}
    assert [result["recommendations"][0]["movieId"] for result in body["results"][:2]] == [
        skipped_movie(11), skipped_movie(1),
    ]


def test_the_order_is_the_top_n_routes(client):
    body = post_invocation(client, {"userId": 1, "count": 5, "order": "rating"}).get_json()
    assert body == client.get("/1/ratings/top/5?order=rating").get_json()
    assert body != client.get("/1/ratings/top/5").get_json()


def test_count_and_min_ratings_default_to_ten_and_the_threshold_in_force(tiny_engine):
    client = create_app(tiny_engine).test_client()  # min_ratings fitted to the tiny data, not the tutorial's 25
    popular = post_invocation(client, {"userId": 777777}).get_json()["recommendations"]
    assert len(popular) == 10  # 12 movies have ratings: the default count of 10 is what stops the list
    assert post_invocation(client, {"userId": 777777, "minRatings": 25}).get_json()["recommendations"] == []
    capped = create_app(tiny_engine, {"MAX_COUNT": 4, "DEFAULT_MIN_RATINGS": 0}).test_client()
    assert len(post_invocation(capped, {"userId": 777777}).get_json()["recommendations"]) == 4


@pytest.mark.parametrize(
    "body, fragments",
    [
        (b"", ["not valid JSON"]),
        (b'{"userId": 1', ["not valid JSON"]),
        (b"\xff\xfe{", ["not valid JSON"]),
        ([1], ["JSON object"]),
        ({}, ['"userId": int or "userIds"']),
        ({"count": 3}, ['"userId": int or "userIds"']),
        ({"userId": 1, "userIds": [2]}, ["not both"]),
        ({"userId": 1, "top": 5}, ["unknown keys 'top'"]),
        ({"userId": "1"}, ["userId must be an integer from 0 to 2147483647", '"1"']),
        ({"userId": True}, ["userId", "true"]),
        ({"userId": 1.0}, ["userId", "1.0"]),
        ({"userId": -1}, ["userId", "-1"]),
        ({"userId": 2**31}, ["userId", "2147483648"]),
        ({"userId": None}, ["userId", "null"]),
        ({"userId": 1, "count": 0}, ["count must be an integer from 1 to 50"]),
        ({"userId": 1, "count": 51}, ["count", "51"]),
        ({"userId": 1, "count": "10"}, ["count", '"10"']),
        ({"userId": 1, "minRatings": -1}, ["minRatings", "-1"]),
        ({"userId": 1, "order": "best"}, ["order must be one of relevance, rating", '"best"']),
        ({"userId": 1, "order": 1}, ["order", "got 1"]),
        ({"userIds": []}, ["userIds must be a list of 1 to 100 user ids", "a list of 0"]),
        ({"userIds": 1}, ["userIds must be a list", "got 1"]),
        ({"userIds": [1, "2"]}, ["userIds[1] must be an integer", '"2"']),
        ({"userIds": [1, False]}, ["userIds[1]", "false"]),
    ],
)
def test_a_bad_invocation_is_a_400_naming_the_problem(client, body, fragments):
    response = post_invocation(client, body)
    assert response.status_code == 400 and response.mimetype == "application/json"
    message = response.get_json()["error"]
    for fragment in fragments:
        assert fragment in message


def test_a_batch_over_max_batch_users_is_refused(tiny_engine):
    client = create_app(tiny_engine, {"MAX_BATCH_USERS": 3}).test_client()
    assert post_invocation(client, {"userIds": [1, 2, 3]}).status_code == 200
    response = post_invocation(client, {"userIds": [1, 2, 3, 4]})
    assert response.status_code == 400 and "1 to 3 user ids, got a list of 4" in response.get_json()["error"]


def test_invocations_takes_only_post(client):
    response = client.get("/invocations")
    assert response.status_code == 405 and response.mimetype == "application/json"

