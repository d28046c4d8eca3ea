"""The model catalog over HTTP: saved versions and their metrics, activation (rollback), drift."""

import logging
import re

from flask import Blueprint, g, jsonify
from werkzeug.exceptions import BadRequest, NotFound

from recommender.http.auth import admin_route, read_route
from recommender.http.context import engine, models
from recommender.http.wire import catalog_entry_json, catalog_json, drift_json
from recommender.model.errors import NotFittedError
from recommender.model.trained import VERSION_PATTERN

log = logging.getLogger(__name__)

bp = Blueprint("models", __name__)


def service():
    """The service's models (catalog, activation, drift); 404 in an app serving a bare engine."""
    if models() is None:
        raise NotFound("this app keeps no model catalog")
    return models()


def serving_version():
    model = engine().model
    return None if model is None else model.version


def version_arg(text):
    if not re.fullmatch(VERSION_PATTERN, text):
        raise BadRequest(f"version must be a model version such as 20261123T142255.788787Z, got {text!r}")
    return text


@bp.get("/models")
@read_route
def list_models():
    """Every saved version, newest first, with which one serves and which the gate rejected."""
    catalog = service().catalog
    return jsonify(catalog_json(catalog.entries(), serving_version(), catalog.activated()))


@bp.get("/models/<version>")
@read_route
def one_model(version):
    entry = service().catalog.entry(version_arg(version))
    if entry is None:
        raise NotFound(f"no saved model {version}")
    return jsonify(catalog_entry_json(entry, serving_version()))


@bp.post("/admin/models/<version>/activate")
@admin_route
def activate_model(version):
    """Serve saved ``version`` now, newer or older than the one serving."""
    version = version_arg(version)
    if engine().model is None:
        raise NotFittedError("no model yet")
    try:
        entry = service().activate(version)
    except KeyError:
        raise NotFound(f"no saved model {version}") from None
    g.model_version = version
    return jsonify(catalog_entry_json(entry, serving_version()))


@bp.get("/drift")
@read_route
def drift():
    """Drift of the ratings the serving model lacks, with both histograms."""
    if engine().model is None:
        raise NotFittedError("no model yet")
    return jsonify(drift_json(service().drift.report()))
