"""Property tests of POST /<user_id>/ratings: any byte string is answered 201, 400, 401 or 413,
as JSON, and a refused body changes nothing.

Bodies are raw bytes, text lines near the accepted syntax (the parser's edge cases), JSON
and bodies over the size limit, under each content type the API documents.
"""

import json
import re

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from recommender.http import openapi
from app import create_app
from engine import RecommendationEngine
from tests.support.tiny_data import TINY_PARAMS

FORM = "application/x-www-form-urlencoded"
CONTENT_TYPES = ["text/plain", FORM, "application/json"]
KEY = "k3y"
LIMITS = {"DEFAULT_MIN_RATINGS": 0, "MAX_CONTENT_LENGTH": 4096, "MAX_COUNT": 50}  # as conftest's app

USER = 1000  # no ratings in the tiny dataset; every example posts to a fresh engine

LINE_BREAKS = ["\n", "\r\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
SPACES = st.sampled_from(["", "", " ", "\t", "\x1f", "\xa0", "\u3000", "\u200b"])  # \u200b is not a space
MOVIE_IDS = st.one_of(
    st.integers(0, 14).map(str),  # the tiny catalog is 1..13
    st.integers(0, 10**13).map(str),
    st.sampled_from(["", "x", "-1", "+1", "1.0", "0x1", "\u0661", "\uff11"]),
)
RATINGS = st.one_of(
    st.sampled_from(["5", "4.5", "1", "+3", ".5", "5.", "3.000", "0", "9", "-1", "nan", "inf", "1e3", "", "5,5"]),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)
LINES = st.one_of(
    st.tuples(SPACES, MOVIE_IDS, SPACES, SPACES, RATINGS, SPACES).map(lambda parts: "{}{}{},{}{}{}".format(*parts)),
    SPACES,
    st.text(max_size=12),
)


@st.composite
def text_bodies(draw):
    lines = draw(st.lists(LINES, max_size=8))
    breaks = draw(st.lists(st.sampled_from(LINE_BREAKS), min_size=len(lines), max_size=len(lines)))
    text = "".join(line + brk for line, brk in zip(lines, breaks))
    if draw(st.booleans()):
        text = text.rstrip("".join(LINE_BREAKS))  # no line break after the last line
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16", "latin-1"]))
    return text.encode(encoding, errors="replace")


@st.composite
def acceptable_requests(draw):
    """(content type, body) the tiny catalog (movies 1..13, scale 1 to 5) accepts, in many spellings."""
    movies = draw(st.lists(st.integers(1, 13), unique=True, min_size=1, max_size=6))
    spellings = st.sampled_from(["1", "1.5", "2", "3.0", "4.5", "5", "+4", "5.", "04"])
    ratings = draw(st.lists(spellings, min_size=len(movies), max_size=len(movies)))
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    if content_type == "application/json":
        return content_type, json.dumps([{"movieId": m, "rating": float(r)} for m, r in zip(movies, ratings)]).encode()
    spaces = draw(st.lists(SPACES, min_size=4 * len(movies), max_size=4 * len(movies)))
    breaks = draw(st.lists(st.sampled_from(LINE_BREAKS), min_size=len(movies), max_size=len(movies)))
    lines = [
        f"{spaces[4 * i]}{m}{spaces[4 * i + 1]},{spaces[4 * i + 2]}{r}{spaces[4 * i + 3]}{brk}"
        for i, (m, r, brk) in enumerate(zip(movies, ratings, breaks))
    ]
    return content_type, "".join(lines).encode(draw(st.sampled_from(["utf-8", "utf-8-sig"])))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 2**31) | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
JSON_ITEMS = st.fixed_dictionaries(
    {},
    optional={
        "movieId": st.integers(0, 14) | JSON_VALUES,
        "rating": st.sampled_from([5, 4.5, 1, 0, 9, -1.5, 1e300]) | JSON_VALUES,
        "extra": JSON_VALUES,
    },
)
JSON_BODIES = st.one_of(st.lists(JSON_ITEMS, max_size=6), JSON_VALUES).map(lambda value: json.dumps(value).encode())
# Well-formed lines, but more bytes than LIMITS allows: the size limit must win.
OVERSIZED = st.integers(1025, 1300).map(lambda lines: b"1,5\n" * lines)
BODIES = st.one_of(st.binary(max_size=300), text_bodies(), JSON_BODIES, OVERSIZED)
# Any body under any documented content type, and acceptable ones often enough to check 201s.
REQUESTS = st.one_of(st.tuples(st.sampled_from(CONTENT_TYPES), BODIES), acceptable_requests())

PROPERTY_SETTINGS = settings(
    max_examples=300,
    deadline=None,  # a shared 2-core machine stalls now and then; the budget is the example count
    database=None,  # nothing written into the repository
    # Each example builds its own engine on the session's tiny model (fixtures are not per example).
    suppress_health_check=[HealthCheck.too_slow],
)


def fresh_engine(tiny_model):
    """An engine serving the shared tiny model with nothing posted yet: one per example."""
    engine = RecommendationEngine(**TINY_PARAMS)
    engine.swap_model(tiny_model)
    return engine


def own_ratings(client, user, headers=None):
    response = client.get(f"/{user}/ratings", headers=headers or {})
    assert response.status_code == 200
    return [(r["movieId"], r["rating"]) for r in response.get_json()["ratings"]]


def assert_outcome(client, engine, user, before, response, body, content_type, headers=None):
    """201: the batch and only it is served back; 4xx: a JSON error and nothing changed."""
    if response.status_code == 201:
        accepted = [(r["movieId"], r["rating"]) for r in response.get_json()["ratings"]]
        assert accepted and own_ratings(client, user, headers) == sorted(accepted)
        assert engine.accepted_position()[0] == before[0] + len(accepted)
        if content_type != "application/json":  # the documented syntax is a superset of what is accepted
            assert re.search(openapi.RATINGS_TEXT_PATTERN, body.decode("utf-8"))
        return
    assert response.mimetype == "application/json"
    assert isinstance(response.get_json()["error"], str)
    assert own_ratings(client, user, headers) == []
    assert engine.accepted_position() == before


@PROPERTY_SETTINGS
@given(posted=REQUESTS)
def test_any_body_is_201_400_or_413_and_a_refused_one_changes_nothing(tiny_model, posted):
    content_type, body = posted
    tiny_engine, user = fresh_engine(tiny_model), USER
    client = create_app(tiny_engine, LIMITS).test_client()
    before = tiny_engine.accepted_position()
    response = client.post(f"/{user}/ratings", data=body, content_type=content_type)
    event(f"{response.status_code}")  # pytest --hypothesis-show-statistics: how often each answer came
    assert response.status_code in {201, 400, 413}, response.get_data(as_text=True)
    assert_outcome(client, tiny_engine, user, before, response, body, content_type)


@PROPERTY_SETTINGS
@given(
    posted=REQUESTS,
    authorization=st.sampled_from([None, f"Bearer {KEY}", "Bearer wrong", f"Basic {KEY}", KEY, "Bearer"]),
)
def test_with_keys_only_the_key_gets_past_401_and_a_refused_body_changes_nothing(tiny_model, posted, authorization):
    content_type, body = posted
    tiny_engine, user = fresh_engine(tiny_model), USER
    client = create_app(tiny_engine, {**LIMITS, "API_KEYS": (KEY,)}).test_client()
    headers = {"Authorization": f"Bearer {KEY}"}  # to read the ratings back
    before = tiny_engine.accepted_position()
    sent = {} if authorization is None else {"Authorization": authorization}
    response = client.post(f"/{user}/ratings", data=body, content_type=content_type, headers=sent)
    # Without the key, 413 may come first (the body is refused before it is read), never 201 or 400.
    allowed = {201, 400, 413} if authorization == f"Bearer {KEY}" else {401, 413}
    assert response.status_code in allowed, response.get_data(as_text=True)
    assert_outcome(client, tiny_engine, user, before, response, body, content_type, headers)
