"""Background retraining: when enough new ratings arrived, or on demand, off the request path."""

import logging
import math
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from recommender.spark_job import describe

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # how often the thread checks the triggers a POST does not wake it for (delay, drift, gap, retry)


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
    next_retrain: "NextRetrain" = None


@dataclass(frozen=True)
class NextRetrain:
    """When the next retrain starts, or what it waits for.

    ``waiting_for`` is one of ``running`` (one is running), ``nothing`` (it starts now),
    ``retry`` (after a failure), ``gap`` (the minimum gap since the last one), ``ratings``
    (``threshold_ratings`` new ratings, or the delay after the first); ``reason`` says it in words.
    """

    waiting_for: str
    reason: str
    pending_ratings: int
    threshold_ratings: int  # new ratings that start one: the share of the trained ones, at least the floor
    starts_in_seconds: float  # None while it waits for ratings with none pending


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
        Retrain once this many ratings arrived since the serving model's data (the floor
        of the share below).
    share : float
        Retrain once new ratings are this share of the serving model's ratings, if that is
        more than ``min_new_ratings``: the threshold grows with the data, so a retrain's
        worth of new ratings is never less than it costs.
    min_gap : float
        Seconds from the end of one retrain to the start of the next one the triggers
        start (a requested retrain and retries after failures do not wait).
    max_delay : float
        Retrain this many seconds after the first rating the serving model lacks, even
        if fewer than ``min_new_ratings`` arrived.
    backoff : tuple of float
        First and largest wait in seconds before retrying a failed retrain (doubling).
    poll : float
        Seconds between the thread's checks of the triggers; ``notify`` wakes it at once only
        when the new ratings reach the threshold.
    drift : callable, optional
        The drift policy: ``drift()`` gives a DriftReport of the ratings the serving model
        lacks; it is asked at most every ``drift_interval`` seconds, and a report saying
        retrain starts one. The count and time triggers stay as upper bounds.

    A retrain the quality gate rejects (``train`` raises ModelRejected) leaves the old
    model serving; the triggers then count only ratings newer than the rejected model's.
    """

    def __init__(self, engine, train, min_new_ratings=1000, max_delay=300.0, backoff=(5.0, 300.0),
                 drift=None, drift_interval=60.0, share=0.0, min_gap=0.0, elsewhere=None, poll=POLL_SECONDS):
        self.engine = engine
        self.train = train
        self.elsewhere = elsewhere  # with replicas of a shared store: the name of another one retraining, or None
        self.min_new_ratings = min_new_ratings
        self.share = share
        self.min_gap = min_gap
        self._finished_at = None  # monotonic end of the last retrain
        self.max_delay = max_delay
        self.backoff = backoff
        self.poll = poll
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

    def retraining_elsewhere(self):
        """The replica of a shared store that retrains now, if not this one; None when none does (or unknown)."""
        if self.elsewhere is None or self.running:
            return None
        try:
            return self.elsewhere()
        except Exception as error:  # the store unreachable: the request is taken, and tried when it is due
            log.warning("cannot tell whether another replica retrains: %s", describe(error))
            return None

    def request(self):
        """Retrain as soon as possible (the admin route)."""
        self._requested = True
        self._wake.set()

    def notify(self):
        """Ratings were accepted: wake the thread if they start a retrain now.

        Called on every POST, so it only reads a few numbers, takes no lock and leaves the
        thread asleep below the threshold (waking it per POST was a tenth of a POST's
        interpreter time): the delay, drift, gap and retry triggers wait for its next poll.
        """
        if not self._wake.is_set() and self._threshold_reached():
            self._wake.set()

    def _threshold_reached(self):
        """Whether the count trigger alone would start a retrain now (what ``notify`` wakes the thread for)."""
        if self.running or self.failures or self._gap_left(time.monotonic()) > 0:
            return False
        return self._pending() >= self.threshold()

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
            next_retrain=self.next_retrain(),
        )

    def threshold(self):
        """New ratings that start a retrain: ``share`` of the serving model's ratings, at least the floor."""
        model = self.engine.model
        trained = len(model.rated_rows) if model is not None else 0
        return max(self.min_new_ratings, math.ceil(self.share * trained))

    def _gap_left(self, now):
        if self._finished_at is None:
            return 0.0
        return max(0.0, self._finished_at + self.min_gap - now)

    def next_retrain(self):
        """What the next retrain waits for (as ``_due`` decides, without asking drift)."""
        now = time.monotonic()
        pending, threshold = max(self._pending(), 0), self.threshold()

        def next_one(waiting_for, reason, starts_in):
            return NextRetrain(waiting_for, reason, pending, threshold,
                               None if starts_in is None else round(starts_in, 1))

        if self.running:
            return next_one("running", "a retrain is running", 0.0)
        if self._requested:
            return next_one("nothing", "a retrain was requested: it starts now", 0.0)
        if self.failures:
            wait = max(0.0, self._retry_at - now)
            return next_one("retry", f"the last retrain failed: it is retried in {wait:.0f}s", wait)
        delay_left = None
        if pending and self._first_unmodelled_at is not None:
            delay_left = max(0.0, self._first_unmodelled_at + self.max_delay - now)
        triggered = pending >= threshold or (delay_left is not None and delay_left == 0)
        gap = self._gap_left(now)
        if triggered and gap > 0:
            return next_one("gap", f"{pending} new ratings; the minimum gap of {self.min_gap:.0f}s since the last "
                            f"retrain ends in {gap:.0f}s", gap)
        if triggered:
            return next_one("nothing", f"{pending} new ratings reached the threshold of {threshold}"
                            if pending >= threshold else f"the first of {pending} new ratings came "
                            f"{self.max_delay:.0f}s ago", 0.0)
        if not pending:
            return next_one("ratings", f"no new ratings: {threshold} start a retrain", None)
        return next_one("ratings", f"{pending} of {threshold} new ratings; at most {delay_left or 0:.0f}s more "
                        f"(the delay after the first new rating)", max(delay_left or 0.0, gap))

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
        if self._gap_left(now) > 0:
            return False
        if unmodelled >= self.threshold() or now - self._first_unmodelled_at >= self.max_delay:
            return True
        return self._drifted(now)

    def _run(self):
        while not self._stopping:
            self._wake.wait(timeout=self.poll)
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
            log.info("retrain skipped: %s", skipped)
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
            self._finished_at = time.monotonic()
            self.last_duration = self._finished_at - started
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
