"""The OpenAPI document at /openapi.json: valid, exactly the app's routes, and true of real answers.

Real requests go through the Flask test client and are judged by Schemathesis's own checks
against the document the app serves, so a field, status or header the app adds without
documenting it fails here.
"""

import re

import pytest
import schemathesis
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from recommender.http import openapi
from app import create_app
from recommender.http.config import DEFAULT_CONFIG
from engine import RecommendationEngine
from recommender.service.retraining import Retrainer

# Not not_a_server_error: each test asserts its exact status, and 503 while loading is right.
CHECKS = [status_code_conformance, content_type_conformance, response_headers_conformance, response_schema_conformance]
FORM = "application/x-www-form-urlencoded"
KEY = "k3y"
BEARER = {"Authorization": f"Bearer {KEY}"}
# Routes any client may call whatever the keys: probes and the description of the API.
OPEN_ROUTES = {"/health", "/ready", "/metrics", "/openapi.json", "/ping", "/", "/console/{filename}"}
WRITES = {("/{user_id}/ratings", "post"), ("/invocations", "post"), ("/admin/retrain", "post")}


def openapi_path(flask_rule):
    """``/<user_id>/ratings`` (Flask) as ``/{user_id}/ratings`` (OpenAPI)."""
    return re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", flask_rule)


def served_operations(app):
    return {
        (openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods - {"HEAD", "OPTIONS"}  # Flask answers these for every route
    }


def documented_operations(document):
    return {(path, method) for path, item in document["paths"].items() for method in item}


def resolve(document, reference):
    node = document
    for part in reference.removeprefix("#/").split("/"):
        node = node[part]
    return node


def references(node):
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)


CONFIGS = {
    "open": DEFAULT_CONFIG,
    "keys": {**DEFAULT_CONFIG, "API_KEYS": (KEY,)},
    "keys-and-reads": {**DEFAULT_CONFIG, "API_KEYS": (KEY,), "PROTECT_READS": True},
}


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_the_document_is_valid_openapi_3(config):
    document = openapi.document(config)
    schemathesis.openapi.from_dict(document).validate()  # the OpenAPI 3.0 meta-schema
    for reference in references(document):  # the meta-schema does not follow references
        assert isinstance(resolve(document, reference), dict), reference
    for path, item in document["paths"].items():
        for method, operation in item.items():
            declared = [resolve(document, p["$ref"]) for p in operation.get("parameters", [])]
            in_path = {p["name"] for p in declared if p["in"] == "path"}
            assert in_path == set(re.findall(r"{(\w+)}", path)), (method, path)


def test_every_route_is_documented_and_every_documented_route_is_served(app):
    document = app.test_client().get("/openapi.json").get_json()
    served, documented = served_operations(app), documented_operations(document)
    assert sorted(served - documented) == [], "served but not documented"
    assert sorted(documented - served) == [], "documented but not served"


def test_the_document_carries_the_apps_own_limits(tiny_engine):
    config = {
        "MAX_COUNT": 7, "MAX_CONTENT_LENGTH": 999, "DEFAULT_MIN_RATINGS": 3, "MAX_LINES": 11, "MAX_BATCH_USERS": 5,
    }
    document = create_app(tiny_engine, config).test_client().get("/openapi.json").get_json()
    parameters = document["components"]["parameters"]
    assert (parameters["count"]["schema"]["minimum"], parameters["count"]["schema"]["maximum"]) == (1, 7)
    assert parameters["min_ratings"]["schema"]["default"] == 3
    assert parameters["user_id"]["schema"]["maximum"] == parameters["movie_id"]["schema"]["maximum"] == 2**31 - 1
    body = document["paths"]["/{user_id}/ratings"]["post"]["requestBody"]["content"]
    assert body["text/plain"]["schema"]["maxLength"] == body[FORM]["schema"]["maxLength"] == 999
    assert body["application/json"]["schema"]["maxItems"] == 11
    invocation = document["paths"]["/invocations"]["post"]["requestBody"]["content"]["application/json"]
    one, batch = invocation["schema"]["oneOf"]
    assert one["properties"]["count"]["maximum"] == 7 and batch["properties"]["userIds"]["maxItems"] == 5


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
def test_keys_put_writes_and_with_protect_reads_reads_behind_a_bearer_key(config):
    document = openapi.document(config)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if path.startswith("/admin/"):
                needs_key = True  # with no key configured it is disabled (403), never open
            elif (path, method) in WRITES:
                needs_key = bool(config.get("API_KEYS"))
            else:
                needs_key = bool(config.get("PROTECT_READS")) and path not in OPEN_ROUTES
            assert (operation.get("security") == [{"bearer": []}]) is needs_key, (method, path)
            assert ("401" in operation["responses"]) is needs_key, (method, path)


# -- real answers, judged against the document the app serves --------------------------------


def conforms(app, operation, response, path_parameters=None):
    """Run Schemathesis's checks on a response to a request sent to ``operation`` (method, path)."""
    method, path = operation
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    case = schema[path][method].Case(path_parameters=path_parameters or {})
    case.validate_response(response, checks=CHECKS)
    return response


def assert_answer(app, operation, response, status, path_parameters=None):
    assert response.status_code == status, response.get_data(as_text=True)
    return conforms(app, operation, response, path_parameters)


TOP = ("GET", "/{user_id}/ratings/top/{count}")
MOVIE = ("GET", "/{user_id}/ratings/{movie_id}")
OWN = ("GET", "/{user_id}/ratings")
POST = ("POST", "/{user_id}/ratings")
RETRAIN = ("POST", "/admin/retrain")


@pytest.mark.parametrize(
    "operation, url, status",
    [
        (TOP, "/1/ratings/top/3", 200),
        (TOP, "/777777/ratings/top/50?min_ratings=0", 200),  # the cold-start list, MAX_COUNT long
        (TOP, "/1/ratings/top/3?min_ratings=many", 400),
        (TOP, "/1/ratings/top/51", 400),
        (MOVIE, "/1/ratings/13", 200),  # a movie nobody rated: no genres, damped mean
        (MOVIE, "/1/ratings/424242", 404),
        (OWN, "/1/ratings", 200),
        (OWN, "/2147483648/ratings", 400),
        (("GET", "/health"), "/health", 200),
        (("GET", "/ready"), "/ready", 200),
        (("GET", "/openapi.json"), "/openapi.json", 200),
        (TOP, "/1/ratings/top/5?genre=Romance&genre=Comedy&exclude=7&include=7,8,9,10,11&new=1", 200),
        (TOP, "/1/ratings/top/3?exclude_popular=2", 200),
        (TOP, "/1/ratings/top/3?genre=Western", 400),
        (("GET", "/movies"), "/movies?q=the&limit=2", 200),
        (("GET", "/movies"), "/movies?q=", 400),
        (("GET", "/movies/{movie_id}"), "/movies/13", 200),
        (("GET", "/movies/{movie_id}"), "/movies/424242", 404),
        (("GET", "/movies/{movie_id}/similar/{count}"), "/movies/2/similar/3?user=1&new=1", 200),
        (("GET", "/movies/{movie_id}/similar/{count}"), "/movies/13/similar/3?genre=Action", 200),
        (("GET", "/movies/{movie_id}/similar/{count}"), "/movies/424242/similar/3", 404),
        (("GET", "/movies/popular/{count}"), "/movies/popular/50?by=count&exclude=1", 200),
        (("GET", "/movies/popular/{count}"), "/movies/popular/3?by=votes", 400),
    ],
)
def test_reads_answer_as_documented(app, client, operation, url, status):
    assert_answer(app, operation, client.get(url), status)


def test_a_wrong_method_is_a_documented_405(app, client):
    response = assert_answer(app, OWN, client.delete("/1/ratings"), 405)
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}


@pytest.mark.parametrize(
    "body, content_type, status",
    [
        ("1,5\n2,4.5\n", "text/plain", 201),
        ("1,5\r\n7,1\r\n", FORM, 201),
        ('[{"movieId": 8, "rating": 4}]', "application/json", 201),
        ("1,9\n", "text/plain", 400),
        ("[{", "application/json", 400),
        ("1,5\n" * 2000, FORM, 413),  # over the fixture's 4096 bytes
    ],
)
def test_posted_ratings_answer_as_documented(app, client, new_user_id, body, content_type, status):
    response = client.post(f"/{new_user_id}/ratings", data=body, content_type=content_type)
    assert_answer(app, POST, response, status)


def test_retrain_without_any_key_configured_is_a_documented_403(app, client):
    assert_answer(app, RETRAIN, client.post("/admin/retrain", headers=BEARER), 403)


@pytest.mark.parametrize("headers, status", [({}, 401), ({"Authorization": "Bearer wrong"}, 401), (BEARER, 202)])
def test_retrain_with_a_key_configured_answers_as_documented(tiny_engine, headers, status):
    retrainer = Retrainer(tiny_engine, train=lambda: None)  # not started: only the request is recorded
    app = create_app(tiny_engine, {"API_KEYS": (KEY,)}, retrainer)
    assert_answer(app, RETRAIN, app.test_client().post("/admin/retrain", headers=headers), status)


def test_with_keys_a_write_without_one_is_a_documented_401_and_with_one_201(tiny_engine, new_user_id):
    app = create_app(tiny_engine, {"API_KEYS": (KEY,)})
    client = app.test_client()
    refused = assert_answer(app, POST, client.post(f"/{new_user_id}/ratings", data="1,5\n"), 401)
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert client.get(f"/{new_user_id}/ratings").get_json()["ratings"] == []
    assert_answer(app, POST, client.post(f"/{new_user_id}/ratings", data="1,5\n", headers=BEARER), 201)


def test_with_protected_reads_a_read_without_a_key_is_a_documented_401(tiny_engine):
    app = create_app(tiny_engine, {"API_KEYS": (KEY,), "PROTECT_READS": True})
    client = app.test_client()
    assert_answer(app, OWN, client.get("/1/ratings"), 401)
    assert_answer(app, OWN, client.get("/1/ratings", headers=BEARER), 200)
    assert_answer(app, ("GET", "/health"), client.get("/health"), 200)


def test_while_loading_answers_are_documented_503s():
    app = create_app(RecommendationEngine())
    client = app.test_client()
    health = assert_answer(app, ("GET", "/health"), client.get("/health"), 200)
    assert health.get_json()["model"] is None
    assert_answer(app, ("GET", "/ready"), client.get("/ready"), 503)
    assert_answer(app, TOP, client.get("/1/ratings/top/10"), 503)
    assert_answer(app, POST, client.post("/1/ratings", data="1,5\n"), 503)


# -- SageMaker and metrics ------------------------------------------------------------------


def test_while_loading_sagemaker_answers_are_documented_503s():
    app = create_app(RecommendationEngine())
    client = app.test_client()
    assert_answer(app, ("GET", "/ping"), client.get("/ping"), 503)
    assert_answer(app, ("POST", "/invocations"), client.post("/invocations", json={"userId": 1}), 503)


def test_ping_and_metrics_answer_as_documented(app, client):
    ping = assert_answer(app, ("GET", "/ping"), client.get("/ping"), 200)
    assert ping.get_json()["status"] == "ok"
    metrics = assert_answer(app, ("GET", "/metrics"), client.get("/metrics"), 200)
    assert metrics.mimetype == "text/plain"


@pytest.mark.parametrize(
    "request_body, status",
    [
        ({"userId": 1, "count": 3, "minRatings": 0}, 200),
        ({"userIds": [1, 11, 777777], "count": 2}, 200),
        ({"userId": 1, "order": "rating"}, 200),
        ({"userId": 1, "order": "best"}, 400),
        ({"userIds": []}, 400),
        ({"userId": "1"}, 400),
        ({"count": 3}, 400),
    ],
)
def test_invocations_answer_as_documented(app, client, request_body, status):
    assert_answer(app, ("POST", "/invocations"), client.post("/invocations", json=request_body), status)


def test_one_user_invocation_is_exactly_the_top_n_body(client):
    invoked = client.post("/invocations", json={"userId": 1, "count": 3, "minRatings": 0}).get_json()
    assert invoked == client.get("/1/ratings/top/3?min_ratings=0").get_json()
