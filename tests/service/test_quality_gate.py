"""The quality gate, the model catalog and activation, in-process on the tiny dataset.

A service is started with good parameters and saves a model; a second one on the same
state directory (as after a restart with worse options) loads it, and its retrains give
a bad model (rank 1, huge regularisation).
"""

import schemathesis

from app import create_app
from recommender.model.params import ModelParams
from recommender.offline.heldout import Holdout
from recommender.service.config import ServiceConfig
from recommender.service.lifecycle import Service
from recommender.service.quality_gate import QualityGate
from tests.support.tiny_data import TINY_PARAMS
from tests.support.waiting import wait_for

KEY = "k3y"
BEARER = {"Authorization": f"Bearer {KEY}"}
BAD_PARAMS = {"rank": 1, "iterations": 5, "reg_param": 1000.0, "seed": 7}
TOP = "/1/ratings/top/3?min_ratings=0"


def started(spark, dataset_dir, state_dir, params, gate=QualityGate()):
    config = ServiceConfig(
        dataset=str(dataset_dir), state_dir=str(state_dir), params=ModelParams(**params),
        holdout=Holdout(share=0.2), gate=gate, retrain_after_ratings=10**6, retrain_after_seconds=10**6,
    )
    service = Service(spark, config, on_failure=lambda: None)
    service.load_or_train()
    assert not service.failed
    return service


def app_of(service):
    return create_app(service.engine, {"API_KEYS": (KEY,), "DEFAULT_MIN_RATINGS": 0}, service.retrainer, service)


def conforms(app, method, path, response, **path_parameters):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    schema[path][method].Case(path_parameters=path_parameters).validate_response(response)
    return response.get_json()


def test_a_bad_retrain_is_rejected_while_reads_answer_from_the_old_model(spark, tiny_dataset_dir, tmp_path):
    first = started(spark, tiny_dataset_dir, tmp_path, TINY_PARAMS)
    good = first.engine.model.version
    heldout = first.engine.model.record["heldout"]
    assert heldout["rmse"] < 0.6 and heldout["ndcg_at_10"] > heldout["popular_ndcg_at_10"]
    first.close()
    service = started(spark, tiny_dataset_dir, tmp_path, BAD_PARAMS)
    try:
        app = app_of(service)
        client = app.test_client()
        assert service.engine.model.version == good  # the saved model matched the data
        before = client.get(TOP).get_json()
        service.retrainer.request()
        reads = []

        def rejected_while_reading():
            reads.append(client.get(TOP).get_json())  # reads keep answering while it trains
            return service.retrainer.rejected == 1

        wait_for(rejected_while_reading, timeout=240, interval=0.2)
        assert len(reads) > 1 and all(read == before for read in reads)
        assert service.engine.model.version == good and client.get(TOP).get_json() == before
        rejection = client.get("/health").get_json()["training"]["lastRejection"]
        assert "held-out RMSE" in rejection["reason"] and rejection["version"] > good
        metrics = client.get("/metrics").get_data(as_text=True)
        assert 'recommender_retrains_total{outcome="rejected"} 1.0' in metrics
        assert 'recommender_model_heldout{metric="rmse"}' in metrics
        catalog = conforms(app, "GET", "/models", client.get("/models"))
        assert catalog["serving"] == good
        assert [(m["modelVersion"], m["rejected"], m["serving"]) for m in catalog["models"]] == [
            (rejection["version"], True, False), (good, False, True),
        ]
        assert catalog["models"][0]["rejection"]["serving"] == good
        assert catalog["models"][0]["heldout"]["rmse"] > catalog["models"][1]["heldout"]["rmse"] + 0.02
    finally:
        service.close()
    restarted = started(spark, tiny_dataset_dir, tmp_path, BAD_PARAMS)
    try:
        assert restarted.engine.model.version == good  # a rejected version is never picked at start-up
    finally:
        restarted.close()


def test_with_the_gate_off_a_bad_retrain_serves(spark, tiny_dataset_dir, tmp_path):
    first = started(spark, tiny_dataset_dir, tmp_path, TINY_PARAMS)
    good = first.engine.model.version
    first.close()
    service = started(spark, tiny_dataset_dir, tmp_path, BAD_PARAMS, gate=QualityGate(enabled=False))
    try:
        service.retrainer.request()
        wait_for(lambda: service.retrainer.retrains == 1, timeout=240)
        assert service.engine.model.version > good and service.retrainer.rejected == 0
    finally:
        service.close()


def test_activation_rolls_back_and_forward_with_logged_ratings_folded_in(spark, tiny_dataset_dir, tmp_path, new_user_id):
    service = started(spark, tiny_dataset_dir, tmp_path, TINY_PARAMS)
    try:
        app = app_of(service)
        client = app.test_client()
        old = service.engine.model.version
        service.retrainer.request()
        wait_for(lambda: service.retrainer.retrains == 1, timeout=240)
        new = service.engine.model.version
        assert client.post(f"/{new_user_id}/ratings", data="1,5\n2,5\n", headers=BEARER).status_code == 201
        path = "/admin/models/{version}/activate"
        assert client.post(f"/admin/models/{old}/activate").status_code == 401
        assert conforms(app, "POST", path, client.post("/admin/models/x/activate", headers=BEARER), version="x")
        missing = "20000101T000000.000000Z"
        response = client.post(f"/admin/models/{missing}/activate", headers=BEARER)
        assert response.status_code == 404 and conforms(app, "POST", path, response, version=missing)
        response = client.post(f"/admin/models/{old}/activate", headers=BEARER)
        assert conforms(app, "POST", path, response, version=old)["serving"] is True
        assert service.engine.model.version == old and response.headers["X-Model-Version"] == old
        own = client.get(f"/{new_user_id}/ratings").get_json()
        assert [r["movieId"] for r in own["ratings"]] == [1, 2] and own["modelVersion"] == old
        assert client.get("/models").get_json()["activated"] == old
        assert client.post(f"/admin/models/{new}/activate", headers=BEARER).status_code == 200
        assert service.engine.model.version == new
        assert [r["movieId"] for r in client.get(f"/{new_user_id}/ratings").get_json()["ratings"]] == [1, 2]
        one = conforms(app, "GET", "/models/{version}", client.get(f"/models/{old}"), version=old)
        assert one["modelVersion"] == old and one["serving"] is False and one["counts"]["ratings"] == 180
        drift = conforms(app, "GET", "/drift", client.get("/drift"))
        assert drift["current"]["ratings"] == 2 and drift["retrain"] is False  # too few to tell
        assert len(drift["bins"]) == len(drift["reference"]["histogram"]) == len(drift["current"]["histogram"])
    finally:
        service.close()
