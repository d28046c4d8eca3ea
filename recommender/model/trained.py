"""A trained model on the driver: the arrays every read is answered from, replaced whole, never mutated."""

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from recommender.limits import MAX_ID
from recommender.model.movies import MovieTable


@dataclass(frozen=True)
class UserState:
    """A user's ratings (as catalog rows), bias and factor vectors (None: not personalizable).

    ``factors`` and ``bias`` are the rating model's, ``rank_factors`` the ranking model's.
    """

    rows: np.ndarray
    ratings: np.ndarray
    factors: object
    bias: float = 0.0
    rank_factors: object = None


@dataclass(frozen=True)
class TrainedModel:
    """Everything one training produced, on the driver."""

    version: str
    trained_at: datetime
    params: dict  # ModelParams.as_dict()
    catalog: MovieTable
    item_factors: np.ndarray  # float32 (movies, rank) in catalog order, zeros where none
    has_factors: np.ndarray  # bool (movies,)
    user_ids: np.ndarray  # int64, sorted: users with training ratings
    user_factors: np.ndarray  # float32 (users, rank), NaN rows for users ALS did not see
    rating_offsets: np.ndarray  # CSR over user_ids into rated_rows / rated_values
    rated_rows: np.ndarray
    rated_values: np.ndarray
    rating_scale: tuple
    log_position: int = 0  # ratings of the log the training data included
    data_fingerprint: str = ""  # of the dataset files trained on
    spark_model: object = field(default=None, compare=False, repr=False)  # the ALSModel; not saved with the arrays
    # Biased model: score = score_offset + user bias + movie bias + factors' dot product.
    # Implicit mode has no biases: offset 0, zero biases.
    score_offset: float = 0.0
    user_bias: np.ndarray = None  # float32 (users,), aligned with user_ids
    item_bias: np.ndarray = None  # float32 (movies,) in catalog order, 0 for unrated movies
    implicit_prefs: bool = False
    # Ranking model (implicit-feedback ALS on preferences derived from the ratings): score =
    # factors' dot product. Same users and movies as the rating model (has_factors).
    rank_item_factors: np.ndarray = None  # float32 (movies, ranking_rank) in catalog order, zeros where none
    rank_user_factors: np.ndarray = None  # float32 (users, ranking_rank), aligned with user_ids, NaN rows unseen
    # What the model catalog records of this training (recommender.offline.heldout):
    # seconds, data counts and the held-out metrics. None for models trained without it.
    record: dict = None

    def user(self, user_id):
        """The trained state of ``user_id``; empty when the user had no training ratings."""
        index = int(self.user_ids.searchsorted(user_id)) if 0 <= user_id <= MAX_ID else 0
        if index == len(self.user_ids) or self.user_ids[index] != user_id:
            return UserState(np.empty(0, np.int64), np.empty(0, np.float32), None)
        span = slice(self.rating_offsets[index], self.rating_offsets[index + 1])
        return UserState(
            self.rated_rows[span], self.rated_values[span], known_factors(self.user_factors[index]),
            float(self.user_bias[index]), known_factors(self.rank_user_factors[index]),
        )


def known_factors(factors):
    """A user's factor vector, or None for the NaN row of a user the model did not see."""
    return None if np.isnan(factors[0]) else factors


def model_version(trained_at):
    """A model's version: its UTC training time, so versions sort as they were trained."""
    return trained_at.strftime("%Y%m%dT%H%M%S.%fZ")


VERSION_PATTERN = r"\d{8}T\d{6}\.\d{6}Z"  # what model_version makes
