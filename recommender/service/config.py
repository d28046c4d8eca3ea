"""The running service's settings, as one small value (server.py builds it from its options)."""

from dataclasses import dataclass, field

from recommender.model.params import ModelParams
from recommender.offline.drift import DriftThresholds
from recommender.offline.heldout import Holdout
from recommender.service.quality_gate import QualityGate


@dataclass(frozen=True)
class ServiceConfig:
    """What the service serves and when it retrains.

    ``model_dir`` serves the newest model saved there as it is (no dataset, no retraining).
    With a shared ``ratings_store`` every replica folds in every other's ratings and serves the
    newest model any of them saved in ``model_store`` (docs/cluster.md).
    """

    dataset: str
    state_dir: str
    params: ModelParams = field(default_factory=ModelParams)
    model_dir: str = None
    force_retrain: bool = False  # train at start-up even if a saved model matches
    retrain_after_ratings: int = 1000
    retrain_after_seconds: float = 300.0
    retrain_after_share: float = 0.0  # also at least this share of the serving model's ratings (server: 0.05)
    min_retrain_gap: float = 0.0  # seconds from one retrain's end to the next one's start (server: 300)
    retrain_niceness: int = 0  # the JVM's OS niceness while a retrain runs (server: 10)
    keep_models: int = 3
    holdout: Holdout = field(default_factory=Holdout)  # ratings kept out of fitting, for held-out metrics
    gate: QualityGate = field(default_factory=QualityGate)
    retrain_policy: str = "count"  # "drift": also retrain when drift of the unmodelled ratings says so
    drift_interval: float = 60.0  # seconds between drift checks
    drift: DriftThresholds = field(default_factory=DriftThresholds)
    ratings_store: str = "file:"  # "file:" (the ratings log in state_dir) or a postgresql:// URL shared by replicas
    model_store: str = None  # the saved models' directory, shared by replicas (default: state_dir/models)
    serve_only: bool = False  # a --workers process without Spark: serves the newest saved model, never trains
    min_ratings: int = None  # top-N lists' default min_ratings; None fits it to the data
