"""Amazon SageMaker's bring-your-own-container training job (the serving routes are ``recommender.http.sagemaker_routes``).

SageMaker runs the image as ``train`` or ``serve`` (the scripts in ``bin/``). Training
reads its inputs from SageMaker's layout and writes the model there::

    /opt/ml/input/config/hyperparameters.json   {"rank": "12", ...}: every value a string
    /opt/ml/input/data/<channel>/               ratings.csv and movies.csv, or an etl.py Parquet dataset
    /opt/ml/model/<version>/                    the saved model, a model_store version folder
    /opt/ml/output/failure                      why training failed

``spark-submit sagemaker_train.py [--ml-root DIR]`` is the training job; ``--ml-root``
(or the environment variable ``RECOMMENDER_ML_ROOT``) stands in for ``/opt/ml``. ``serve`` is
``server.py --model-dir /opt/ml/model``.
"""

import argparse
import json
import logging
import math
import os
from dataclasses import dataclass

from recommender.datasets.layouts import dataset_fingerprint, load_dataset
from recommender.datasets.parquet import MANIFEST
from recommender.model.params import FIELD_TYPES, ModelParams
from recommender.model.preferences import params_for_data
from recommender.model.training import train
from recommender.spark_job import describe
from recommender.spark_job import configure_logging, spark_job
from recommender.storage import params_file
from recommender.storage.model_store import ModelStore

log = logging.getLogger(__name__)

DEFAULT_ML_ROOT = "/opt/ml"
ML_ROOT_VARIABLE = "RECOMMENDER_ML_ROOT"
DEFAULT_CHANNEL = "training"  # SageMaker's name for a job's single input
DATA_FILES = ("ratings.csv", "movies.csv")
# Hyperparameters SageMaker adds itself: its SDK's "sagemaker_*" settings and automatic
# model tuning's "_tuning_objective_metric". They are not the model's to refuse.
PLATFORM_PREFIXES = ("sagemaker_", "_")
EXPECTED = {int: "an integer", float: "a finite number", bool: "true or false"}


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
    """One hyperparameter as the type ``FIELD_TYPES`` gives it.

    Parameters
    ----------
    name : str
        A ``FIELD_TYPES`` name.
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
    kind = FIELD_TYPES[name]
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


def read_hyperparameters(path):
    """Engine keyword arguments: the tuned defaults with the job's hyperparameters on top.

    Parameters
    ----------
    path : str
        ``hyperparameters.json``; a missing file means no hyperparameters.

    Returns
    -------
    dict
        Every ``FIELD_TYPES`` name, typed.

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
    params = params_file.tuned_params().as_dict()  # what server.py trains with when given no options
    for name, value in given.items():
        if name.startswith(PLATFORM_PREFIXES):
            log.info("hyperparameter %s is SageMaker's own; ignored", name)
        elif name in FIELD_TYPES:
            params[name] = parse_hyperparameter(name, value)
        else:
            raise TrainingInputError(
                f"unknown hyperparameter {name[:100]!r}; expected some of {', '.join(FIELD_TYPES)}"
            )
    return params


def find_channel(channels_dir):
    """The input channel's directory: ``training``, or the only channel there is.

    Raises
    ------
    TrainingInputError
        When there is no such channel, or it holds neither ``ratings.csv`` and ``movies.csv``
        nor an ``etl.py`` Parquet dataset.
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
    if missing and not os.path.isfile(os.path.join(directory, MANIFEST)):
        raise TrainingInputError(
            f"input channel {name!r} has no {' or '.join(missing)}: it must hold a MovieLens-format "
            f"{' and '.join(DATA_FILES)}, or an etl.py Parquet dataset ({MANIFEST} and its folders)"
        )
    log.info("input channel %r: %s", name, directory)
    return directory


def prepare(layout):
    """The parameters to train with and the data directory of the job, checked before Spark starts.

    Returns
    -------
    (ModelParams, str)

    Raises
    ------
    TrainingInputError
        For a bad hyperparameter (including one out of range) or a missing channel.
    """
    params = read_hyperparameters(layout.hyperparameters)
    try:
        params = ModelParams(**params)
    except ValueError as error:  # out of range, e.g. rank 0; the message starts with the name
        raise TrainingInputError(f"hyperparameter {error}") from None
    return params, find_channel(layout.channels)


def train_and_save(spark, params, data_dir, model_dir):
    """Train with ``params`` on the dataset in ``data_dir`` (MovieLens CSV or etl.py's Parquet layout) and save the model in ``model_dir``.

    Returns
    -------
    str
        The saved model's version folder.
    """
    dataset = load_dataset(spark, data_dir)
    model = train(dataset, params_for_data(params, dataset.implicit), data_fingerprint=dataset_fingerprint(spark, data_dir)).model
    # One version per job: the folder SageMaker packs as the model artifact.
    folder = ModelStore(model_dir, keep=1).save(model)
    log.info(
        "trained model %s: %d users, %d movies, %d ratings, %s",
        model.version, len(model.user_ids), len(model.catalog.movie_ids), len(model.rated_rows), model.params,
    )
    return folder


def run_job(layout):
    """The whole training job: check the inputs, then train in a Spark session of its own."""
    params, data_dir = prepare(layout)
    with spark_job("recommender-sagemaker-training") as spark:
        return train_and_save(spark, params, data_dir, layout.model)


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


def main(argv):
    """Run the training job; 0 on success, else 1 with the reason in ``output/failure``."""
    args = parse_args(argv)
    configure_logging()
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
