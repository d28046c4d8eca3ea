"""Amazon SageMaker's bring-your-own-container contract: the training job, ``/ping`` and ``/invocations``.

SageMaker runs the image as ``train`` or ``serve`` (the scripts in ``bin/``). Training
reads its inputs from SageMaker's layout and writes the model there::

    /opt/ml/input/config/hyperparameters.json   {"rank": "12", ...}: every value a string
    /opt/ml/input/data/<channel>/               ratings.csv and movies.csv (channel "training")
    /opt/ml/model/<version>/                    the saved model, a model_store version folder
    /opt/ml/output/failure                      why training failed

``spark-submit sagemaker_container.py [--ml-root DIR]`` is the training job; ``--ml-root``
(or the environment variable ``RECOMMENDER_ML_ROOT``) stands in for ``/opt/ml``. ``serve`` is
``server.py --model-dir /opt/ml/model``, whose app answers the routes of ``bp``.
"""

import argparse
import json
import logging
import math
import os
import sys
import tempfile
from dataclasses import dataclass

from flask import Blueprint, current_app, g, jsonify
from werkzeug.exceptions import BadRequest

import app as api
import model_params
from dataset import MAX_ID, fingerprint, load_movielens
from engine import NotFittedError, RecommendationEngine
from model_store import ModelStore
from retraining import describe
from spark_session import build_spark

log = logging.getLogger("sagemaker_container")

DEFAULT_ML_ROOT = "/opt/ml"
ML_ROOT_VARIABLE = "RECOMMENDER_ML_ROOT"
DEFAULT_CHANNEL = "training"  # SageMaker's name for a job's single input
DATA_FILES = ("ratings.csv", "movies.csv")
# Hyperparameters SageMaker adds itself: its SDK's "sagemaker_*" settings and automatic
# model tuning's "_tuning_objective_metric". They are not the model's to refuse.
PLATFORM_PREFIXES = ("sagemaker_", "_")
EXPECTED = {int: "an integer", float: "a finite number", bool: "true or false"}
INVOCATION_KEYS = ("userId", "userIds", "count", "minRatings")
DEFAULT_COUNT = 10


class TrainingInputError(ValueError):
    """The job's hyperparameters or input channel are unusable; the message says which and why."""


@dataclass(frozen=True)
class MlLayout:
    """SageMaker's container paths under ``root`` (``/opt/ml`` in a job)."""

    root: str

    @property
    def hyperparameters(self):
        return os.path.join(self.root, "input", "config", "hyperparameters.json")

    @property
    def channels(self):
        return os.path.join(self.root, "input", "data")

    @property
    def model(self):
        return os.path.join(self.root, "model")

    @property
    def failure(self):
        return os.path.join(self.root, "output", "failure")


# -- training ---------------------------------------------------------------------------


def parse_hyperparameter(name, value):
    """One hyperparameter as the type ``model_params.FIELDS`` gives it.

    Parameters
    ----------
    name : str
        A ``model_params.FIELDS`` name.
    value : str or JSON value
        SageMaker passes strings (``"4"``, ``"0.1"``, ``"True"``); a JSON number or
        boolean, as a hand-written file may hold, is read as its JSON text.

    Returns
    -------
    int, float or bool

    Raises
    ------
    TrainingInputError
        When the text is not of that type.
    """
    kind = model_params.FIELDS[name]
    text = (value if isinstance(value, str) else json.dumps(value)).strip()
    try:
        if kind is bool:
            # Python's str(True) is "True", JSON's is "true": SageMaker's SDKs send either.
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            return text.lower() == "true"
        parsed = kind(text)
        if kind is float and not math.isfinite(parsed):
            raise ValueError(text)
        return parsed
    except ValueError:
        raise TrainingInputError(f"hyperparameter {name} must be {EXPECTED[kind]}, got {text[:100]!r}") from None


def default_params():
    """The engine parameters ``server.py`` trains with when given no options: the tuned ones."""
    parser = argparse.ArgumentParser()
    model_params.add_arguments(parser)
    return model_params.engine_kwargs(parser.parse_args([]))


def read_hyperparameters(path):
    """Engine keyword arguments: the tuned defaults with the job's hyperparameters on top.

    Parameters
    ----------
    path : str
        ``hyperparameters.json``; a missing file means no hyperparameters.

    Returns
    -------
    dict
        Every ``model_params.FIELDS`` name, typed.

    Raises
    ------
    TrainingInputError
        For an unreadable file, an unknown name or a value that does not parse.
    """
    try:
        with open(path, encoding="utf-8") as file:
            given = json.load(file)
    except FileNotFoundError:
        log.info("%s does not exist: training with the tuned parameters", path)
        given = {}
    except (OSError, ValueError) as error:
        raise TrainingInputError(f"{path} is not readable JSON: {error}") from None
    if not isinstance(given, dict):
        raise TrainingInputError(f"{path} must hold a JSON object of hyperparameter names and values")
    params = default_params()
    for name, value in given.items():
        if name.startswith(PLATFORM_PREFIXES):
            log.info("hyperparameter %s is SageMaker's own; ignored", name)
        elif name in model_params.FIELDS:
            params[name] = parse_hyperparameter(name, value)
        else:
            raise TrainingInputError(
                f"unknown hyperparameter {name[:100]!r}; expected some of {', '.join(model_params.FIELDS)}"
            )
    return params


def find_channel(channels_dir):
    """The input channel's directory: ``training``, or the only channel there is.

    Raises
    ------
    TrainingInputError
        When there is no such channel, or it lacks ``ratings.csv`` or ``movies.csv``.
    """
    present = sorted(
        name for name in (os.listdir(channels_dir) if os.path.isdir(channels_dir) else [])
        if os.path.isdir(os.path.join(channels_dir, name))
    )
    name = present[0] if len(present) == 1 else DEFAULT_CHANNEL
    if name not in present:
        raise TrainingInputError(
            f"no input channel {DEFAULT_CHANNEL!r} in {channels_dir} (channels: {', '.join(present) or 'none'}); "
            f"name the channel {DEFAULT_CHANNEL!r} or give the job exactly one"
        )
    directory = os.path.join(channels_dir, name)
    missing = [file for file in DATA_FILES if not os.path.isfile(os.path.join(directory, file))]
    if missing:
        raise TrainingInputError(
            f"input channel {name!r} has no {' or '.join(missing)}: it must hold a MovieLens-format "
            f"{' and '.join(DATA_FILES)}"
        )
    log.info("input channel %r: %s", name, directory)
    return directory


def prepare(layout):
    """The engine to train and the data directory of the job, checked before Spark starts.

    Returns
    -------
    (engine.RecommendationEngine, str)

    Raises
    ------
    TrainingInputError
        For a bad hyperparameter (including one out of range) or a missing channel.
    """
    params = read_hyperparameters(layout.hyperparameters)
    try:
        engine = RecommendationEngine(**params)
    except ValueError as error:  # out of range, e.g. rank 0; the message starts with the name
        raise TrainingInputError(f"hyperparameter {error}") from None
    return engine, find_channel(layout.channels)


def train(spark, engine, data_dir, model_dir):
    """Train ``engine`` on the MovieLens files in ``data_dir`` and save the model in ``model_dir``.

    Returns
    -------
    str
        The saved model's version folder.
    """
    dataset = load_movielens(spark, data_dir)
    model = engine.train(dataset, data_fingerprint=fingerprint(spark, data_dir))
    # One version per job: the folder SageMaker packs as the model artifact.
    folder = ModelStore(model_dir, keep=1).save(model)
    log.info(
        "trained model %s: %d users, %d movies, %d ratings, %s",
        model.version, len(model.user_ids), len(model.catalog.movie_ids), len(model.rated_rows), model.params,
    )
    return folder


def run_job(layout):
    """The whole training job: check the inputs, then train in a Spark session of its own."""
    engine, data_dir = prepare(layout)
    with tempfile.TemporaryDirectory(prefix="als-checkpoints-") as scratch:
        spark = build_spark(scratch, app_name="recommender-sagemaker-training")
        try:
            return train(spark, engine, data_dir, layout.model)
        finally:
            spark.stop()


def write_failure(path, reason):
    """Tell SageMaker why the job failed: it shows this file's text as the job's failure reason."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as failure:
        failure.write(reason + "\n")


def parse_args(argv):
    """The training job's options (SageMaker gives none: the layout comes from the environment)."""
    parser = argparse.ArgumentParser(description="SageMaker training job: train the recommender, save the model.")
    parser.add_argument(
        "--ml-root", default=os.environ.get(ML_ROOT_VARIABLE, DEFAULT_ML_ROOT),
        help=f"SageMaker's directory layout (default: ${ML_ROOT_VARIABLE} or {DEFAULT_ML_ROOT})",
    )
    return parser.parse_args(argv)


def main(argv=None):
    """Run the training job; 0 on success, else 1 with the reason in ``output/failure``."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    layout = MlLayout(args.ml_root)
    if os.path.exists(layout.failure):  # a previous run's reason would say this one failed
        os.remove(layout.failure)
    try:
        run_job(layout)
    except TrainingInputError as error:
        log.error("training failed: %s", error)
        write_failure(layout.failure, str(error))
        return 1
    except Exception as error:
        log.exception("training failed")
        write_failure(layout.failure, describe(error))
        return 1
    return 0


# -- serving: the routes SageMaker calls ------------------------------------------------

bp = Blueprint("sagemaker", __name__)


@bp.get("/ping")
def ping():
    """SageMaker's health check: 200 once a model is loaded, else 503 with ``Retry-After``."""
    if api.engine().model is None:
        raise NotFittedError("no model yet")
    return jsonify(status="ok", modelVersion=g.model_version)


@bp.post("/invocations")
@api.read_route
def invocations():
    """Top-N lists for SageMaker: the top-N route's body for one user, ``{"results": [...]}`` for several.

    The body is JSON whatever its content type: ``{"userId": 1}`` or ``{"userIds": [1, 2]}``,
    with optional ``count`` (default 10) and ``minRatings`` (default ``DEFAULT_MIN_RATINGS``).
    """
    body = invocation_body(api.read_body())
    config = current_app.config
    count = json_integer("count", body.get("count", min(DEFAULT_COUNT, config["MAX_COUNT"])), 1, config["MAX_COUNT"])
    min_ratings = json_integer("minRatings", body.get("minRatings", config["DEFAULT_MIN_RATINGS"]), 0, MAX_ID)
    if "userId" in body:
        user_id = json_integer("userId", body["userId"], 0, MAX_ID)
        return jsonify(api.recommendations_json(user_id, count, min_ratings))
    user_ids = user_ids_arg(body["userIds"], config["MAX_BATCH_USERS"])
    return jsonify(results=[api.recommendations_json(user_id, count, min_ratings) for user_id in user_ids])


def invocation_body(data):
    """The request's JSON object, with exactly one of ``userId`` and ``userIds`` and no other keys."""
    try:
        body = current_app.json.loads(data)
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest('the body must be a JSON object: {"userId": int} or {"userIds": [int, ...]}')
    unknown = [key for key in body if key not in INVOCATION_KEYS]
    if unknown:
        shown = ", ".join(repr(key[:50]) for key in unknown[:5])
        raise BadRequest(f"unknown keys {shown}; expected {', '.join(INVOCATION_KEYS)}")
    if "userId" in body and "userIds" in body:
        raise BadRequest("give userId or userIds, not both")
    if "userId" not in body and "userIds" not in body:
        raise BadRequest('the body needs "userId": int or "userIds": [int, ...]')
    return body


def json_integer(name, value, low, high):
    """``value`` if it is a JSON integer in ``[low, high]``, else 400 naming ``name``."""
    # type(), not isinstance(): true is an int in Python, and 1.0 is not an integer in the API.
    if type(value) is not int or not low <= value <= high:
        raise BadRequest(f"{name} must be an integer from {low} to {high}, got {json.dumps(value)[:100]}")
    return value


def user_ids_arg(value, limit):
    """The ``userIds`` list: 1 to ``limit`` user ids, else 400."""
    if not isinstance(value, list) or not 1 <= len(value) <= limit:
        given = f"a list of {len(value)}" if isinstance(value, list) else json.dumps(value)[:100]
        raise BadRequest(f"userIds must be a list of 1 to {limit} user ids, got {given}")
    return [json_integer(f"userIds[{index}]", user_id, 0, MAX_ID) for index, user_id in enumerate(value)]


if __name__ == "__main__":
    sys.exit(main())
