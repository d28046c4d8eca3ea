"""The running service's settings, as one small value (server.py builds it from its options)."""

from dataclasses import dataclass, field

from recommender.model.params import ModelParams


@dataclass(frozen=True)
class ServiceConfig:
    """What the service serves and when it retrains.

    ``model_dir`` serves the newest model saved there as it is (no dataset, no retraining).
    """

    dataset: str
    state_dir: str
    params: ModelParams = field(default_factory=ModelParams)
    model_dir: str = None
    force_retrain: bool = False  # train at start-up even if a saved model matches
    retrain_after_ratings: int = 1000
    retrain_after_seconds: float = 300.0
    keep_models: int = 3
