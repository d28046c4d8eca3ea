"""A failing disk under the HTTP API: 507/503 with a reason, nothing applied, reads answered, writes resume."""

import errno

import pytest

from app import create_app
from engine import RecommendationEngine
from recommender.datasets.ratings_log import RatingsLog
from tests.support.disk_faults import fail_calls_on
from tests.support.tiny_data import TINY_PARAMS


@pytest.fixture
def logged(tmp_path, tiny_model):
    """(engine writing to a ratings log, its test client, the log's path)."""
    path = tmp_path / "ratings-log.csv"
    ratings_log = RatingsLog(path)
    engine = RecommendationEngine(ratings_log=ratings_log, **TINY_PARAMS)
    engine.replay(ratings_log.open(), covered=0)
    engine.swap_model(tiny_model)
    yield engine, create_app(engine, {"DEFAULT_MIN_RATINGS": 0}).test_client(), path
    ratings_log.close()


@pytest.mark.parametrize(("call", "error_number", "status"), [
    ("write", errno.ENOSPC, 507), ("fsync", errno.EIO, 503), ("write", errno.EROFS, 503),
])
def test_a_failing_disk_refuses_the_batch_and_applies_nothing(logged, new_user_id, monkeypatch, call,
                                                              error_number, status):
    engine, client, path = logged
    assert client.post(f"/{new_user_id}/ratings", data="1,4\n").status_code == 201
    before_log, before_top = path.read_bytes(), client.get(f"/{new_user_id}/ratings/top/5").get_json()
    heal = fail_calls_on(monkeypatch, call, path, error_number)
    refused = client.post(f"/{new_user_id}/ratings", data="2,5\n3,1\n")
    assert refused.status_code == status and refused.content_type == "application/json"
    assert "ratings log" in refused.get_json()["error"] and "nothing was applied" in refused.get_json()["error"]
    assert path.read_bytes() == before_log
    assert [r["movieId"] for r in client.get(f"/{new_user_id}/ratings").get_json()["ratings"]] == [1]
    assert client.get(f"/{new_user_id}/ratings/top/5").get_json() == before_top  # reads still answer
    assert engine.accepted_position()[0] == 1
    for probe in ("/health", "/ready"):
        answer = client.get(probe)
        assert answer.status_code == 200 and answer.get_json()["writes"]["ok"] is False
        assert answer.get_json()["writes"]["error"]
    heal()
    assert client.post(f"/{new_user_id}/ratings", data="2,5\n").status_code == 201
    assert client.get("/health").get_json()["writes"] == {"ok": True, "error": None}
    assert path.read_bytes() == before_log + path.read_bytes()[len(before_log):]
    assert path.read_bytes().count(b"\n") == before_log.count(b"\n") + 1  # one record, no torn or duplicate one
