"""Background retraining: when enough new ratings arrived, or on demand, off the request path."""

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrainingStatus:
    running: bool
    retrains: int
    unmodelled_ratings: int
    last_success: str  # ISO time, None before the first
    last_error: str  # None while the last retrain succeeded
    consecutive_failures: int
    next_retry_in_seconds: float  # None unless retrying after a failure
    rejected: int  # retrained models the quality gate rejected
    last_rejection: dict  # version, reason, at; None before the first
    policy: str  # "count" or "drift"


class ModelRejected(Exception):
    """The quality gate kept a retrained model from serving (it is saved, marked rejected)."""

    def __init__(self, version, reason, log_position):
        super().__init__(f"model {version} rejected: {reason}")
        self.version, self.reason, self.log_position = version, reason, log_position


class RetrainSkipped(Exception):
    """Another replica of a shared store is retraining, or just saved a newer model: not a failure."""


class Retrainer:
    """Retrains the engine in a background thread and swaps the new model in.

    Parameters
    ----------
    engine : recommender.model.live_model.LiveModel
    train : callable
        ``train()`` returns a new TrainedModel covering every rating accepted so far
        (and saves it); it runs on this class's thread.
    min_new_ratings : int
        Retrain once this many ratings arrived since the serving model's data.
    max_delay : float
        Retrain this many seconds after the first rating the serving model lacks, even
        if fewer than ``min_new_ratings`` arrived.
    backoff : tuple of float
        First and largest wait in seconds before retrying a failed retrain (doubling).
    drift : callable, optional
        The drift policy: ``drift()`` gives a DriftReport of the ratings the serving model
        lacks; it is asked at most every ``drift_interval`` seconds, and a report saying
        retrain starts one. The count and time triggers stay as upper bounds.

    A retrain the quality gate rejects (``train`` raises ModelRejected) leaves the old
    model serving; the triggers then count only ratings newer than the rejected model's.
    """

    def __init__(self, engine, train, min_new_ratings=1000, max_delay=300.0, backoff=(5.0, 300.0),
                 drift=None, drift_interval=60.0):
        self.engine = engine
        self.train = train
        self.min_new_ratings = min_new_ratings
        self.max_delay = max_delay
        self.backoff = backoff
        self.retrains = 0
        self.failures = 0  # consecutive
        self.failures_total = 0
        self.seconds_total = 0.0  # time spent retraining, successful or not
        self.last_duration = None
        self.last_error = None
        self.last_success = None
        self.running = False
        self.drift = drift
        self.drift_interval = drift_interval
        self.rejected = 0
        self.last_rejection = None
        self._rejected_position = 0  # ratings a rejected retrain covered
        self._drift_checked_at = None
        self._requested = False
        self._first_unmodelled_at = None
        self._retry_at = 0.0
        self._wake = threading.Event()
        self._stopping = False
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._run, name="retrainer", daemon=True)
        self._thread.start()

    def stop(self, timeout=None, cancel=None):
        """Stop the thread; ``cancel`` (e.g. cancelling Spark's jobs) ends a running retrain."""
        self._stopping = True
        self._wake.set()
        if self.running and cancel is not None:
            cancel()
        if self._thread is not None:
            self._thread.join(timeout)

    def request(self):
        """Retrain as soon as possible (the admin route)."""
        self._requested = True
        self._wake.set()

    def notify(self):
        """Ratings were accepted: check the triggers now."""
        self._wake.set()

    def status(self):
        """The state of retraining, for ``/health``."""
        return RetrainingStatus(
            running=self.running,
            retrains=self.retrains,
            unmodelled_ratings=self.engine.unmodelled_count(),
            last_success=self.last_success,
            last_error=self.last_error,
            consecutive_failures=self.failures,
            next_retry_in_seconds=round(max(0.0, self._retry_at - time.monotonic()), 1) if self.failures else None,
            rejected=self.rejected,
            last_rejection=self.last_rejection,
            policy="count" if self.drift is None else "drift",
        )

    def _pending(self):
        """Unmodelled ratings that no rejected retrain covered either."""
        model = self.engine.model
        covered = max(self._rejected_position - (model.log_position if model is not None else 0), 0)
        return self.engine.unmodelled_count() - covered

    def _drifted(self, now):
        if self.drift is None or (self._drift_checked_at is not None and now - self._drift_checked_at < self.drift_interval):
            return False
        self._drift_checked_at = now
        report = self.drift()
        if report is not None and report.retrain:
            log.info("drift says retrain: %s", "; ".join(report.reasons))
        return report is not None and report.retrain

    def _due(self):
        now = time.monotonic()
        if self._requested:
            return True
        if self.failures:
            return now >= self._retry_at
        unmodelled = self._pending()
        if unmodelled <= 0:
            self._first_unmodelled_at = None
            return False
        if self._first_unmodelled_at is None:
            self._first_unmodelled_at = now
        if unmodelled >= self.min_new_ratings or now - self._first_unmodelled_at >= self.max_delay:
            return True
        return self._drifted(now)

    def _run(self):
        while not self._stopping:
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            if not self._stopping and self._due():
                self._retrain()

    def _retrain(self):
        self.running, self._requested = True, False
        started = time.monotonic()
        try:
            model = self.train()
            self.engine.swap_model(model)
        except ModelRejected as rejection:
            self._rejected(rejection)
        except RetrainSkipped as skipped:
            log.debug("retrain skipped: %s", skipped)
        except Exception as error:  # any failure leaves the old model serving
            if self._stopping:
                log.info("retrain abandoned: the service is stopping")
                return
            self.failures += 1
            self.failures_total += 1
            self.last_error = describe(error)
            wait = min(self.backoff[0] * 2 ** (self.failures - 1), self.backoff[1])
            self._retry_at = time.monotonic() + wait
            log.exception("retrain failed (%d in a row); retrying in %.0fs", self.failures, wait)
        else:
            self.retrains += 1
            self.failures, self.last_error = 0, None
            self._first_unmodelled_at = None
            self.last_success = datetime.now(timezone.utc).isoformat()
            log.info("retrained: model %s in %.1fs", model.version, time.monotonic() - started)
        finally:
            self.last_duration = time.monotonic() - started
            self.seconds_total += self.last_duration
            self.running = False

    def _rejected(self, rejection):
        self.rejected += 1
        self.failures, self.last_error = 0, None
        self._rejected_position = rejection.log_position
        self._first_unmodelled_at = None
        self.last_rejection = {
            "version": rejection.version, "reason": rejection.reason, "at": datetime.now(timezone.utc).isoformat(),
        }
        log.warning("retrained model %s rejected by the quality gate, the old one keeps serving: %s",
                    rejection.version, rejection.reason)


def describe(error):
    """One line saying what went wrong; for a JVM error, the Java exception's own message."""
    java_exception = getattr(error, "java_exception", None)  # py4j's Py4JJavaError
    text = str(java_exception.toString()) if java_exception is not None else f"{type(error).__name__}: {error}"
    return text.strip().splitlines()[0][:500] if text.strip() else type(error).__name__
