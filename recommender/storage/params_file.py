"""The tuned model parameters: ``model_params.json``, written by tune.py, read for every command's defaults."""

import argparse
import json
import os

from recommender.model.params import FIELD_TYPES, ModelParams

DEFAULT_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                            "model_params.json")

HELP = {
    "rank": "latent factors",
    "iterations": "ALS iterations",
    "reg_param": "ALS regularization",
    "seed": "ALS random seed",
    "popularity_damping": "pseudo-ratings at the mean shrinking each movie's mean in popular lists",
    "bias_damping": "pseudo-ratings shrinking user and movie biases",
    "alpha": "implicit mode's confidence scale",
    "ranking_rank": "the ranking model's latent factors",
    "ranking_iterations": "the ranking model's ALS iterations",
    "ranking_reg_param": "the ranking model's ALS regularization",
    "ranking_alpha": "the ranking model's confidence scale",
    "ranking_rating_shift": "the ranking model's preference is max(rating - shift, 0)",
    "implicit_prefs": "implicit-feedback ALS: ratings are confidences (purchases, play counts); ranking only",
    "nonnegative": "constrain ALS's factors to be non-negative",
}
BOOL_OPTIONS = {"implicit_prefs": "--implicit", "nonnegative": "--nonnegative"}


def load(path=DEFAULT_PATH):
    """The model parameters of a tuned-parameters file.

    Parameters
    ----------
    path : str

    Returns
    -------
    dict
        The ``ModelParams`` fields present in the file's ``params`` object.

    Raises
    ------
    ValueError
        When the file is not JSON of that shape or a value has the wrong type.
    """
    try:
        with open(path, encoding="utf-8") as file:
            params = json.load(file)["params"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not a tuned-parameters file ({error})") from None
    unknown = set(params) - set(FIELD_TYPES)
    if unknown:
        raise ValueError(f"{path}: unknown parameters {sorted(unknown)}; expected some of {sorted(FIELD_TYPES)}")
    for name, value in params.items():
        kind = FIELD_TYPES[name]
        valid = isinstance(value, bool) if kind is bool else (
            isinstance(value, (int, float) if kind is float else int) and not isinstance(value, bool)
        )
        if not valid:
            raise ValueError(f"{path}: {name} must be {kind.__name__}, got {value!r}")
    return {name: FIELD_TYPES[name](value) for name, value in params.items()}


def tuned_params(path=DEFAULT_PATH):
    """``ModelParams`` with the tuned file's values over the built-in defaults."""
    return ModelParams(**load(path))


def save(path, params, tuning):
    """Write ``params`` (a dict of ModelParams fields) and how they were chosen (``tuning``)."""
    with open(path, "w", encoding="utf-8") as file:
        json.dump({"params": params, "tuning": tuning}, file, indent=2)
        file.write("\n")


def add_arguments(parser, path=DEFAULT_PATH, seed_option="--seed"):
    """Add the model's parameters as options of ``parser``, defaulting to the tuned file's values.

    Options parse into ``ModelParams`` field names; ``params_of`` builds the ModelParams.
    ``seed_option`` names the ALS seed's option, for commands whose ``--seed`` is another.
    """
    defaults = tuned_params(path).as_dict()
    source = f"default {{}} from {os.path.basename(path)}"
    group = parser.add_argument_group("model (defaults: the tuned parameters)")
    for name, kind in FIELD_TYPES.items():
        help_text = f"{HELP[name]}; {source.format(defaults[name])}"
        if kind is bool:
            group.add_argument(BOOL_OPTIONS[name], dest=name, action=argparse.BooleanOptionalAction,
                               default=defaults[name], help=help_text)
            continue
        option = seed_option if name == "seed" else "--" + name.replace("_", "-")
        group.add_argument(option, dest=name, type=kind, default=defaults[name], help=help_text)
    return group


def params_of(args):
    """The ``ModelParams`` of parsed options; ValueError names a parameter out of range."""
    return ModelParams(**{name: getattr(args, name) for name in FIELD_TYPES})
