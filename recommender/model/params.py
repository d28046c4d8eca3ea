"""The model's training parameters, validated once, in the one shape every command passes around."""

import dataclasses
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ModelParams:
    """Parameters of one training.

    Parameters
    ----------
    rank : int
        Number of latent factors.
    iterations : int
        ALS iterations.
    reg_param : float
        ALS regularization; Spark scales it by each user's and movie's rating count.
    seed : int
        Seed of ALS's random initialization.
    popularity_damping : float
        Pseudo-ratings at the global mean added to each movie's mean for
        non-personalized lists and estimates.
    bias_damping : float
        Pseudo-ratings of zero bias added to each movie's and user's bias (explicit mode).
    implicit_prefs : bool
        Train implicit-feedback ALS (ratings are confidences, e.g. play counts).
    alpha : float
        Implicit mode's confidence scale: confidence is ``1 + alpha * rating``.
    ranking_rank, ranking_iterations, ranking_reg_param, ranking_alpha : int, int, float, float
        The ranking model's implicit-feedback ALS: latent factors, iterations,
        regularization and confidence scale (confidence ``1 + ranking_alpha * v``).
    ranking_rating_shift : float
        How a rating becomes the ranking model's preference: ``v = max(rating - shift, 0)``,
        so ratings at or below the shift say nothing either way.
    nonnegative : bool
        Constrain ALS's factors to be non-negative (Spark's NNLS solver; fold-in solves the same).
    """

    rank: int = 10
    iterations: int = 15
    reg_param: float = 0.15
    seed: int = 42
    popularity_damping: float = 10.0
    bias_damping: float = 10.0
    implicit_prefs: bool = False
    alpha: float = 1.0
    # The ranking model's defaults: best NDCG@10 on a validation split of the bundled
    # data's training part (docs/evaluation.md).
    ranking_rank: int = 32
    ranking_iterations: int = 10  # 20 before; 10 measured no worse (docs/performance.md, Training at scale)
    ranking_reg_param: float = 0.2
    ranking_alpha: float = 1.0
    ranking_rating_shift: float = 3.0
    nonnegative: bool = False

    def __post_init__(self):
        for name in ("rank", "iterations", "ranking_rank", "ranking_iterations"):
            value = getattr(self, name)
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in (
            "reg_param", "popularity_damping", "bias_damping", "alpha",
            "ranking_reg_param", "ranking_alpha", "ranking_rating_shift",
        ):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")

    def as_dict(self):
        return dataclasses.asdict(self)


FIELD_TYPES = {field.name: field.type for field in dataclasses.fields(ModelParams)}  # name -> int, float or bool
