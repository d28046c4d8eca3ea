"""Drift of the ratings the serving model lacks, checked cheaply on the driver."""

import logging
import time

from recommender.offline.drift import DriftThresholds, drift_report
from recommender.offline.heldout import RatingArrays

log = logging.getLogger(__name__)


class DriftMonitor:
    """Compares the unmodelled ratings (LiveModel's, in memory) with the serving model's training ratings.

    Parameters
    ----------
    engine : recommender.model.live_model.LiveModel
    thresholds : recommender.offline.drift.DriftThresholds
    interval : float
        ``report`` reuses a report younger than this many seconds.
    """

    def __init__(self, engine, thresholds=DriftThresholds(), interval=60.0):
        self.engine = engine
        self.thresholds = thresholds
        self.interval = interval
        self.latest = None
        self._checked_at = None

    def check(self):
        """A new DriftReport (None while no model serves); kept as ``latest``."""
        model = self.engine.model
        if model is None:
            return None
        started = time.perf_counter()
        current = RatingArrays(*self.engine.unmodelled_ratings())
        self.latest = drift_report(model, current, thresholds=self.thresholds)
        self._checked_at = time.monotonic()
        log.info(
            "drift of %d unmodelled ratings: score %.3f, retrain %s (%.3fs)",
            len(current), self.latest.score, self.latest.retrain, time.perf_counter() - started,
        )
        return self.latest

    def report(self):
        """The latest report if younger than ``interval`` and of the serving model, else a new one."""
        latest, model = self.latest, self.engine.model
        fresh = self._checked_at is not None and time.monotonic() - self._checked_at < self.interval
        if latest is not None and fresh and model is not None and latest.model_version == model.version:
            return latest
        return self.check()
