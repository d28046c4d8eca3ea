"""GET /metrics: the Prometheus text format, parsed back with prometheus_client's own parser."""

from prometheus_client.parser import text_string_to_metric_families

from app import create_app
from engine import RecommendationEngine
from recommender.datasets.ratings_log import RatingsLog
from recommender.service.retraining import Retrainer
from tests.support.tiny_data import TINY_PARAMS


def scrape(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def requests_count(samples, route, method, status):
    key = ("recommender_http_requests_total", (("method", method), ("route", route), ("status", status)))
    return samples.get(key, 0)


def test_requests_are_counted_and_timed_by_route_method_and_status(client, new_user_id):
    top = "/<user_id>/ratings/top/<count>"
    before = scrape(client)
    for _ in range(3):
        client.get("/1/ratings/top/2")
    client.get("/1/ratings/top/0")
    client.get("/no/such/route/at/all")
    client.post(f"/{new_user_id}/ratings", data=b"1,4\n2,3\n")
    after = scrape(client)
    assert requests_count(after, top, "GET", "200") - requests_count(before, top, "GET", "200") == 3
    assert requests_count(after, top, "GET", "400") - requests_count(before, top, "GET", "400") == 1
    assert requests_count(after, "unmatched", "GET", "404") - requests_count(before, "unmatched", "GET", "404") == 1
    histogram_count = ("recommender_http_request_duration_seconds_count",
                       (("method", "GET"), ("route", top), ("status", "200")))
    assert after[histogram_count] - before.get(histogram_count, 0) == 3
    ingested = "recommender_ratings_ingested_total", ()
    assert after[ingested] - before[ingested] == 2


def test_model_version_and_retraining_state(tiny_engine):
    retrainer = Retrainer(tiny_engine, train=lambda: None)
    retrainer.retrains, retrainer.failures_total, retrainer.seconds_total = 2, 1, 7.5
    retrainer.last_duration, retrainer.last_error = 2.5, 'Py4JJavaError: "quoted" path'
    samples = scrape(create_app(tiny_engine, retrainer=retrainer).test_client())
    assert samples[("recommender_model_info", (("version", tiny_engine.model.version),))] == 1
    assert samples[("recommender_model_loaded", ())] == 1
    assert samples[("recommender_retrains_total", (("outcome", "success"),))] == 2
    assert samples[("recommender_retrains_total", (("outcome", "failure"),))] == 1
    assert samples[("recommender_retrain_duration_seconds_total", ())] == 7.5
    assert samples[("recommender_last_retrain_duration_seconds", ())] == 2.5
    assert samples[("recommender_last_retrain_error_info", (("error", 'Py4JJavaError: "quoted" path'),))] == 1


def test_before_a_model_metrics_still_answer():
    samples = scrape(create_app(RecommendationEngine()).test_client())
    assert samples[("recommender_model_loaded", ())] == 0
    assert not any(name == "recommender_model_info" for name, _ in samples)


def test_the_ratings_logs_fsyncs_and_commits_are_histograms(tmp_path, tiny_model, new_user_id):
    ratings_log = RatingsLog(tmp_path / "ratings-log.csv")
    engine = RecommendationEngine(ratings_log=ratings_log, **TINY_PARAMS)
    engine.replay(ratings_log.open(), covered=0)
    engine.swap_model(tiny_model)
    client = create_app(engine).test_client()
    for user in (new_user_id, new_user_id + 1):
        assert client.post(f"/{user}/ratings", data=b"1,4\n2,3\n").status_code == 201
    samples = scrape(client)
    ratings_log.close()
    assert samples[("recommender_ratings_log_fsync_batch_writes_count", ())] == 2  # one POST at a time: one each
    assert samples[("recommender_ratings_log_fsync_batch_writes_sum", ())] == 2
    assert samples[("recommender_ratings_log_fsync_batch_writes_bucket", (("le", "1.0"),))] == 2
    assert samples[("recommender_ratings_log_fsync_duration_seconds_count", ())] == 2
    assert samples[("recommender_ratings_commit_duration_seconds_count", ())] == 2
    assert samples[("recommender_ratings_commit_duration_seconds_sum", ())] > 0
