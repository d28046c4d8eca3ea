"""Routes for operators and probes: health, readiness, Prometheus metrics, the API document, admin."""

from flask import Blueprint, Response, current_app, g, jsonify
from werkzeug.exceptions import Forbidden

from recommender.http import openapi
from recommender.http.auth import admin_route
from recommender.http.context import engine, metrics, min_ratings_in_force, models, retrainer
from recommender.http.prometheus import CONTENT_TYPE
from recommender.http.wire import retrain_conflict_json, summary_json, training_json, writes_json
from recommender.model.errors import NotFittedError

bp = Blueprint("system", __name__)


@bp.get("/health")
def health():
    """Liveness: 200 while the process is up, with the model and retraining state."""
    ready = engine().model is not None
    model = summary_json(engine().summary()) if ready else None
    if ready and current_app.config["DEFAULT_MIN_RATINGS"] is not None:  # the app's own default wins
        model.update(minRatings=min_ratings_in_force(), minRatingsSource="option")
    return jsonify(
        status="ok",
        ready=ready,
        writes=writes_json(engine().write_failure()),
        model=model,
        training=training_json(retrainer().status()) if retrainer() is not None else None,
    )


@bp.get("/ready")
def ready():
    """Readiness: 503 with Retry-After until a model is loaded."""
    if engine().model is None:
        raise NotFittedError("no model yet")
    # Still 200 while writes fail: reads are answered, and taking the instance out would stop them too.
    return jsonify(ready=True, modelVersion=g.model_version, writes=writes_json(engine().write_failure()))


@bp.get("/metrics")
def prometheus_metrics():
    """Prometheus text format: requests by route and status, ratings ingested, model, retraining."""
    return Response(metrics().exposition(), content_type=CONTENT_TYPE)


@bp.get("/openapi.json")
def openapi_document():
    """This API's OpenAPI 3 document, with this app's limits and keys."""
    return jsonify(openapi.document(current_app.config))


@bp.post("/admin/retrain")
@admin_route
def admin_retrain():
    """Start a retrain now; needs an API key, and is disabled (403) when none is configured."""
    if retrainer() is None and models() is not None and models().forwards_retrains:
        models().forward_retrain()  # the kernel handed this connection to a serving worker of --workers
        return jsonify(status="retrain requested from the training worker", training=None), 202
    if retrainer() is None:
        raise Forbidden("this service does not retrain: it serves a fixed model")
    elsewhere = retrainer().retraining_elsewhere()
    if elsewhere is not None:  # replicas of a shared store retrain one at a time; its model is served here when saved
        return jsonify(retrain_conflict_json(elsewhere, retrainer().status())), 409
    retrainer().request()
    return jsonify(status="retrain requested", training=training_json(retrainer().status())), 202
