import time
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

import pytest

from tests.support.waiting import wait_for
from engine import RecommendationEngine, model_version
from recommender.service.retraining import ModelRejected, Retrainer


class Trainings:
    """Stands in for train-and-save: each call gives the served factors as a newer model."""

    def __init__(self, engine, base, failures=0):
        self.engine, self.base, self.failures, self.calls = engine, base, failures, 0

    def __call__(self):
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError(f"executor lost (attempt {self.calls})")
        trained_at = self.base.trained_at + timedelta(seconds=self.calls)
        position = self.engine.accepted_position()[0]
        return replace(self.base, version=model_version(trained_at), trained_at=trained_at, log_position=position)




@pytest.fixture
def engine(tiny_engine):
    served = RecommendationEngine()
    served.swap_model(tiny_engine.model)
    return served


def start(retrainer):
    retrainer.start()
    return retrainer


def test_enough_new_ratings_start_a_retrain(engine, new_user_id):
    trainings = Trainings(engine, engine.model)
    retrainer = start(Retrainer(engine, trainings, min_new_ratings=3, max_delay=3600))
    try:
        engine.add_ratings(new_user_id, [(1, 5.0), (2, 4.0)])
        retrainer.notify()
        time.sleep(1.5)
        assert trainings.calls == 0  # two of three
        engine.add_ratings(new_user_id, [(3, 5.0)])
        retrainer.notify()
        wait_for(lambda: retrainer.retrains == 1)
        assert engine.unmodelled_count() == 0 and engine.model.version == model_version(trainings.base.trained_at + timedelta(seconds=1))
    finally:
        retrainer.stop()


def test_ratings_below_the_threshold_do_not_wake_the_retrainer(engine, new_user_id):
    drift = Drift(after=10**9)  # asked each time the thread checks the triggers (interval 0)
    retrainer = start(Retrainer(engine, Trainings(engine, engine.model), min_new_ratings=1000, max_delay=3600,
                                drift=drift, drift_interval=0.0, poll=3600))
    try:
        for movie in range(1, 6):
            engine.add_ratings(new_user_id, [(movie, 4.0)])
            retrainer.notify()
        time.sleep(1.0)
        assert drift.checks == 0 and retrainer.retrains == 0  # no wake-up per POST: the triggers wait for the poll
    finally:
        retrainer.stop()


def test_the_rating_that_reaches_the_threshold_wakes_the_retrainer_at_once(engine, new_user_id):
    trainings = Trainings(engine, engine.model)
    retrainer = start(Retrainer(engine, trainings, min_new_ratings=3, max_delay=3600, poll=3600))
    try:
        engine.add_ratings(new_user_id, [(1, 5.0), (2, 4.0)])
        retrainer.notify()
        time.sleep(1.0)
        assert trainings.calls == 0
        engine.add_ratings(new_user_id, [(3, 5.0)])
        retrainer.notify()
        wait_for(lambda: retrainer.retrains == 1, timeout=10)  # not the hour-long poll
    finally:
        retrainer.stop()


def test_a_few_ratings_are_retrained_after_the_delay(engine, new_user_id):
    trainings = Trainings(engine, engine.model)
    retrainer = start(Retrainer(engine, trainings, min_new_ratings=1000, max_delay=1.0))
    try:
        engine.add_ratings(new_user_id, [(1, 5.0)])
        wait_for(lambda: retrainer.retrains == 1)
        assert retrainer.status().last_success and engine.unmodelled_count() == 0
    finally:
        retrainer.stop()


def test_a_failed_retrain_keeps_the_old_model_reports_and_retries(engine):
    served = engine.model.version
    trainings = Trainings(engine, engine.model, failures=2)
    retrainer = start(Retrainer(engine, trainings, backoff=(0.5, 1.0)))
    try:
        retrainer.request()
        wait_for(lambda: retrainer.failures == 1)
        status = retrainer.status()
        assert "RuntimeError: executor lost (attempt 1)" == status.last_error
        assert status.next_retry_in_seconds is not None and engine.model.version == served
        wait_for(lambda: retrainer.retrains == 1)  # attempt 2 fails, attempt 3 succeeds
        assert trainings.calls == 3 and retrainer.status().last_error is None
        assert engine.model.version > served
    finally:
        retrainer.stop()


class Drift:
    """Stands in for the drift monitor: says retrain once ``after`` checks were made."""

    def __init__(self, after):
        self.after, self.checks = after, 0

    def __call__(self):
        self.checks += 1
        return SimpleNamespace(retrain=self.checks >= self.after, reasons=["planted"])


def test_the_drift_policy_retrains_when_drift_says_so_before_the_count(engine, new_user_id):
    trainings, drift = Trainings(engine, engine.model), Drift(after=2)
    retrainer = start(Retrainer(engine, trainings, min_new_ratings=1000, max_delay=3600, drift=drift, drift_interval=0.5))
    try:
        engine.add_ratings(new_user_id, [(1, 5.0)])
        retrainer.notify()
        wait_for(lambda: retrainer.retrains == 1)
        assert drift.checks == 2 and retrainer.status().policy == "drift"
    finally:
        retrainer.stop()


def test_without_new_ratings_drift_is_not_checked(engine):
    drift = Drift(after=1)
    retrainer = start(Retrainer(engine, Trainings(engine, engine.model), drift=drift, drift_interval=0.1))
    try:
        time.sleep(1.5)
        assert drift.checks == 0 and retrainer.retrains == 0
    finally:
        retrainer.stop()


def test_a_rejected_retrain_waits_for_ratings_newer_than_it_covered(engine, new_user_id):
    calls = []

    def rejected():
        calls.append(1)
        raise ModelRejected("20990101T000000.000000Z", "held-out RMSE worse", engine.accepted_position()[0])

    retrainer = start(Retrainer(engine, rejected, min_new_ratings=2, max_delay=3600))
    try:
        engine.add_ratings(new_user_id, [(1, 5.0), (2, 4.0)])
        retrainer.notify()
        wait_for(lambda: retrainer.rejected == 1)
        time.sleep(1.5)
        assert len(calls) == 1 and retrainer.failures == 0  # not retried on the same ratings
        assert retrainer.status().last_rejection["reason"] == "held-out RMSE worse"
        engine.add_ratings(new_user_id, [(3, 5.0), (4, 4.0)])
        retrainer.notify()
        wait_for(lambda: retrainer.rejected == 2)
    finally:
        retrainer.stop()


def test_the_threshold_is_a_share_of_the_trained_ratings_with_the_floor_below_it(engine, new_user_id):
    trained = len(engine.model.rated_rows)
    share = 10 / trained  # ten new ratings: more than the floor of three
    trainings = Trainings(engine, engine.model)
    retrainer = start(Retrainer(engine, trainings, min_new_ratings=3, max_delay=3600, share=share))
    try:
        assert retrainer.threshold() == 10
        assert Retrainer(engine, trainings, min_new_ratings=30, share=share).threshold() == 30  # the floor
        engine.add_ratings(new_user_id, [(movie, 4.0) for movie in range(1, 6)])
        retrainer.notify()
        time.sleep(1.5)
        waiting = retrainer.status().next_retrain
        assert trainings.calls == 0 and (waiting.waiting_for, waiting.pending_ratings, waiting.threshold_ratings) == (
            "ratings", 5, 10)
        assert "5 of 10 new ratings" in waiting.reason and 3500 < waiting.starts_in_seconds <= 3600
        engine.add_ratings(new_user_id, [(movie, 4.0) for movie in range(6, 11)])
        retrainer.notify()
        wait_for(lambda: retrainer.retrains == 1)
    finally:
        retrainer.stop()


def test_a_busy_service_waits_the_minimum_gap_between_retrains(engine, new_user_id):
    trainings = Trainings(engine, engine.model)
    retrainer = start(Retrainer(engine, trainings, min_new_ratings=2, max_delay=3600, min_gap=3.0))
    try:
        engine.add_ratings(new_user_id, [(1, 5.0), (2, 4.0)])
        retrainer.notify()
        wait_for(lambda: retrainer.retrains == 1)  # the first one does not wait
        finished = time.monotonic()
        engine.add_ratings(new_user_id, [(3, 5.0), (4, 4.0)])
        retrainer.notify()
        time.sleep(1.0)
        waiting = retrainer.status().next_retrain
        assert retrainer.retrains == 1 and waiting.waiting_for == "gap" and 0 < waiting.starts_in_seconds <= 3.0
        assert "minimum gap of 3s" in waiting.reason
        wait_for(lambda: retrainer.retrains == 2)
        assert time.monotonic() - finished >= 2.9
        assert retrainer.status().next_retrain.waiting_for == "ratings"
    finally:
        retrainer.stop()


def test_a_requested_retrain_does_not_wait_for_the_gap(engine):
    trainings = Trainings(engine, engine.model)
    retrainer = start(Retrainer(engine, trainings, min_gap=3600))
    try:
        retrainer.request()
        wait_for(lambda: retrainer.retrains == 1)
        retrainer.request()
        wait_for(lambda: retrainer.retrains == 2)
    finally:
        retrainer.stop()


def test_health_says_what_the_next_retrain_waits_for(engine, new_user_id):
    from app import create_app

    retrainer = Retrainer(engine, Trainings(engine, engine.model), min_new_ratings=4, max_delay=600)  # not started
    client = create_app(engine, {}, retrainer).test_client()
    idle = client.get("/health").get_json()["training"]["nextRetrain"]
    assert idle == {"waitingFor": "ratings", "reason": "no new ratings: 4 start a retrain", "pendingRatings": 0,
                    "thresholdRatings": 4, "startsInSeconds": None}
    engine.add_ratings(new_user_id, [(movie, 4.0) for movie in range(1, 5)])
    due = client.get("/health").get_json()["training"]["nextRetrain"]
    assert (due["waitingFor"], due["pendingRatings"], due["startsInSeconds"]) == ("nothing", 4, 0.0)
    assert due["reason"] == "4 new ratings reached the threshold of 4"


def test_the_servers_retrain_policy_options_reach_the_retrainer_and_bad_ones_stop_it(capsys, tmp_path):
    import server

    base = ["--port", "0", "--state-dir", str(tmp_path)]
    args = server.parse_args([*base, "--retrain-after-share", "0.1", "--min-retrain-gap", "60", "--retrain-niceness", "5"])
    config = server.service_config(args)
    assert (config.retrain_after_share, config.min_retrain_gap, config.retrain_niceness) == (0.1, 60, 5)
    defaults = server.service_config(server.parse_args(base))
    assert (defaults.retrain_after_share, defaults.min_retrain_gap, defaults.retrain_niceness) == (0.05, 300, 10)
    for bad in (["--retrain-after-share", "1.5"], ["--min-retrain-gap", "-1"], ["--retrain-niceness", "25"]):
        with pytest.raises(SystemExit) as stopped:
            server.parse_args([*base, *bad])
        assert stopped.value.code == 2 and "retrain" in capsys.readouterr().err
