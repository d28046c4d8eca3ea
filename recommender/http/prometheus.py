"""Prometheus metrics of the service: requests as they happen, model and retraining read at scrape time."""

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Requests take about a millisecond; retrains and overload take much longer.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# POSTs one fsync of the ratings log makes durable: 1 when writes come one at a time, up to
# about the server's thread count under load.
FSYNC_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class ServiceMetrics:
    """The metrics of one app, in a registry of their own (so apps and tests do not share them).

    Parameters
    ----------
    engine : recommender.model.live_model.LiveModel
        Read at scrape time for the serving model.
    retrainer : recommender.service.retraining.Retrainer or None
        Read at scrape time for retrain counts, durations and the last error.
    drift : recommender.service.drift_monitor.DriftMonitor or None
        Its latest report's score is shown (a scrape never runs a check).
    """

    def __init__(self, engine, retrainer=None, drift=None):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "recommender_http_requests", "HTTP requests answered, by route, method and status",
            ["route", "method", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "recommender_http_request_duration_seconds", "Time to answer an HTTP request, by route, method and status",
            ["route", "method", "status"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.ratings_ingested = Counter(
            "recommender_ratings_ingested", "Ratings accepted (durably logged) by this process",
            registry=self.registry,
        )
        self.fsync_batch = Histogram(
            "recommender_ratings_log_fsync_batch_writes",
            "POSTs (batches of ratings) made durable by one fsync of the ratings log (group commit)",
            buckets=FSYNC_BATCH_BUCKETS, registry=self.registry,
        )
        self.fsync_seconds = Histogram(
            "recommender_ratings_log_fsync_duration_seconds", "Time one fsync of the ratings log took",
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.commit_seconds = Histogram(
            "recommender_ratings_commit_duration_seconds",
            "Time a POST waited, after writing its ratings to the log, for the fsync that covers them",
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.registry.register(ModelAndTrainingCollector(engine, retrainer, drift))
        store = getattr(engine, "ratings_log", None)
        if store is not None:  # the store reports its commits (recommender.datasets.ratings_log's hooks)
            store.on_fsync, store.on_commit = self.observe_fsync, self.commit_seconds.observe

    def observe_fsync(self, writes, seconds):
        """One fsync of the ratings log: how many POSTs it made durable and how long it took."""
        self.fsync_batch.observe(writes)
        self.fsync_seconds.observe(seconds)

    def observe_request(self, route, method, status, started):
        """Count a request answered with ``status``; ``started`` is its ``time.perf_counter()``."""
        labels = (route, method, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(time.perf_counter() - started)

    def exposition(self):
        """The Prometheus text format of every metric, as bytes."""
        return generate_latest(self.registry)


class ModelAndTrainingCollector:
    """Reads the serving model and retraining state when scraped, so they are never stale."""

    def __init__(self, engine, retrainer, drift=None):
        self.engine = engine
        self.retrainer = retrainer
        self.drift = drift

    def describe(self):
        return []  # the families depend on state; collect() at registration would need a model

    def collect(self):
        model = self.engine.model
        info = InfoMetricFamily("recommender_model", "The serving model", labels=["version"])
        loaded = GaugeMetricFamily("recommender_model_loaded", "1 when a model is serving, else 0")
        loaded.add_metric([], 0 if model is None else 1)
        if model is not None:
            info.add_metric([model.version], {})
        yield loaded
        yield info
        if model is not None:
            yield heldout_family(model)
        if self.drift is not None and self.drift.latest is not None:
            score = GaugeMetricFamily("recommender_drift_score", "Weighted data drift score of the latest drift check")
            score.add_metric([], self.drift.latest.score)
            retrain = GaugeMetricFamily("recommender_drift_retrain", "1 when the latest drift check says retrain")
            retrain.add_metric([], int(self.drift.latest.retrain))
            yield score
            yield retrain
        if self.retrainer is not None:
            yield from self.retraining_families(self.retrainer)

    @staticmethod
    def retraining_families(retrainer):
        retrains = CounterMetricFamily("recommender_retrains", "Retrains finished, by outcome", labels=["outcome"])
        retrains.add_metric(["success"], retrainer.retrains)
        retrains.add_metric(["failure"], retrainer.failures_total)
        retrains.add_metric(["rejected"], retrainer.rejected)
        seconds = CounterMetricFamily("recommender_retrain_duration_seconds", "Time spent in retrains")
        seconds.add_metric([], retrainer.seconds_total)
        last = GaugeMetricFamily("recommender_last_retrain_duration_seconds", "Duration of the last retrain")
        last.add_metric([], retrainer.last_duration or 0.0)
        running = GaugeMetricFamily("recommender_retrain_running", "1 while a retrain runs")
        running.add_metric([], int(retrainer.running))
        error = InfoMetricFamily(
            "recommender_last_retrain_error", "The error of the last retrain, while it has not succeeded since",
            labels=["error"],
        )
        if retrainer.last_error:
            error.add_metric([retrainer.last_error], {})
        rejection = InfoMetricFamily(
            "recommender_last_rejected_model", "The last retrained model the quality gate rejected, and why",
            labels=["version", "reason"],
        )
        if retrainer.last_rejection:
            rejection.add_metric([retrainer.last_rejection["version"], retrainer.last_rejection["reason"]], {})
        return [retrains, seconds, last, running, error, rejection]


def heldout_family(model):
    """The serving model's held-out metrics, measured when it was trained."""
    family = GaugeMetricFamily(
        "recommender_model_heldout", "Held-out metrics of the serving model, measured at training", labels=["metric"]
    )
    heldout = (model.record or {}).get("heldout") or {}
    for name in ("rmse", "mae", "ndcg_at_10", "popular_ndcg_at_10"):
        if heldout.get(name) is not None:
            family.add_metric([name], heldout[name])
    return family
