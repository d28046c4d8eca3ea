"""The tuned model parameters: ``model_params.json``, written by tune.py, read for defaults."""

import argparse
import json
import os

DEFAULT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model_params.json")

# Keyword arguments of RecommendationEngine that the file may set, with their types.
FIELDS = {
    "rank": int,
    "iterations": int,
    "reg_param": float,
    "bias_damping": float,
    "implicit_prefs": bool,
    "alpha": float,
    "seed": int,
}


def load(path=DEFAULT_PATH):
    """The engine parameters of a tuned-parameters file.

    Parameters
    ----------
    path : str

    Returns
    -------
    dict
        ``FIELDS`` keys present in the file's ``params`` object.

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
    unknown = set(params) - set(FIELDS)
    if unknown:
        raise ValueError(f"{path}: unknown parameters {sorted(unknown)}; expected some of {sorted(FIELDS)}")
    for name, value in params.items():
        kind = FIELDS[name]
        valid = isinstance(value, bool) if kind is bool else (
            isinstance(value, (int, float) if kind is float else int) and not isinstance(value, bool)
        )
        if not valid:
            raise ValueError(f"{path}: {name} must be {kind.__name__}, got {value!r}")
    return {name: FIELDS[name](value) for name, value in params.items()}


def save(path, params, tuning):
    """Write ``params`` (engine keyword arguments) and how they were chosen (``tuning``)."""
    with open(path, "w", encoding="utf-8") as file:
        json.dump({"params": params, "tuning": tuning}, file, indent=2)
        file.write("\n")


def add_arguments(parser, path=DEFAULT_PATH, seed_option="--seed"):
    """Add the engine's parameters as options of ``parser``, defaulting to the tuned file's values.

    Options parse into ``FIELDS`` names; ``engine_kwargs`` picks them out again.
    ``seed_option`` names the ALS seed's option, for commands whose ``--seed`` is another.
    """
    tuned = load(path)
    defaults = {"rank": 10, "iterations": 15, "reg_param": 0.15, "bias_damping": 10.0,
                "implicit_prefs": False, "alpha": 1.0, "seed": 42, **tuned}
    source = f"default {{}} from {os.path.basename(path)}"
    group = parser.add_argument_group("model (defaults: the tuned parameters)")
    group.add_argument("--rank", type=int, default=defaults["rank"], help=source.format(defaults["rank"]))
    group.add_argument("--iterations", type=int, default=defaults["iterations"], help=source.format(defaults["iterations"]))
    group.add_argument("--reg-param", type=float, default=defaults["reg_param"], help=source.format(defaults["reg_param"]))
    group.add_argument(
        "--bias-damping", type=float, default=defaults["bias_damping"],
        help="pseudo-ratings shrinking user and movie biases; " + source.format(defaults["bias_damping"]),
    )
    group.add_argument(
        "--implicit", dest="implicit_prefs", action=argparse.BooleanOptionalAction, default=defaults["implicit_prefs"],
        help="implicit-feedback ALS: ratings are confidences (purchases, play counts); ranking only",
    )
    group.add_argument("--alpha", type=float, default=defaults["alpha"], help="implicit mode's confidence scale")
    group.add_argument(seed_option, dest="seed", type=int, default=defaults["seed"], help="ALS random seed")
    return group


def engine_kwargs(args):
    """The ``RecommendationEngine`` keyword arguments of parsed options."""
    return {name: getattr(args, name) for name in FIELDS}
