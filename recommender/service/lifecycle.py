"""The service's moving parts and their lifecycle: start-up, retrain-and-save, shutdown."""

import dataclasses
import logging
import os
import threading
import time
from contextlib import nullcontext
from datetime import datetime, timezone

from recommender.datasets.layouts import dataset_fingerprint, load_dataset
from recommender.datasets.postgres_store import Follower, PostgresRatingsStore, is_postgres_url
from recommender.datasets.ratings_log import RatingsLog
from recommender.model.live_model import LiveModel
from recommender.offline.heldout import train_measured
from recommender.service.drift_monitor import DriftMonitor
from recommender.service.priority import jvm_pid, lowered
from recommender.service.retraining import ModelRejected, Retrainer, RetrainSkipped
from recommender.spark_job import describe
from recommender.storage.files import files_for
from recommender.storage.model_catalog import ModelCatalog
from recommender.storage.model_store import ModelStore

log = logging.getLogger(__name__)

RATINGS_LOG = "ratings-log.csv"
MODELS = "models"
MODEL_POLL_SECONDS = 1.0  # how often a replica of a shared store looks for a newer saved model


def ratings_store_of(config):
    """The file ratings log (``file:`` or ``file:PATH``) or the PostgreSQL store the URL names."""
    url = config.ratings_store
    if is_postgres_url(url):
        return PostgresRatingsStore(url)
    path = url[len("file:"):] if url.startswith("file:") else url
    return RatingsLog(path or os.path.join(config.state_dir, RATINGS_LOG))


class Service:
    """The dataset, the ratings log, the live model, saved models and retraining, wired together.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    config : recommender.service.config.ServiceConfig
    on_failure : callable
        Called when no model could be loaded or trained at start-up, after which the
        service cannot serve.

    With ``config.model_dir`` it serves a saved model as it is and never retrains
    (``retrainer`` is None).
    """

    def __init__(self, spark, config, on_failure):
        self.spark = spark
        self.config = config
        self.on_failure = on_failure
        self.ratings_log = ratings_store_of(config)
        self.engine = LiveModel(self.ratings_log, config.min_ratings)
        self.shared = isinstance(self.ratings_log, PostgresRatingsStore)
        self.follower = None
        if self.shared:
            self.ratings_log.follow(self.engine)
            self.follower = Follower(self.ratings_log, self.engine)
        models = config.model_dir or config.model_store or os.path.join(config.state_dir, MODELS)
        # Through the SparkContext's Hadoop FileSystem (hdfs://, s3a://, file://...); workers without Spark: local
        self.store = ModelStore(models, keep=config.keep_models, files=files_for(spark))
        self.catalog = ModelCatalog(self.store)
        self.drift = DriftMonitor(self.engine, config.drift, config.drift_interval)
        self._stopping = threading.Event()
        self.retrainer = None if config.model_dir or config.serve_only else Retrainer(
            self.engine, self.train_exclusively if self.shared else self.retrain_and_save,
            min_new_ratings=config.retrain_after_ratings, max_delay=config.retrain_after_seconds,
            share=config.retrain_after_share, min_gap=config.min_retrain_gap,
            drift=self.drift.check if config.retrain_policy == "drift" else None, drift_interval=config.drift_interval,
            elsewhere=self.ratings_log.retraining_replica if self.shared else None,
        )
        self.failed = False

    def retrain_and_save(self):
        """``train_and_save`` while serving: the JVM's threads (and this one) at a lower OS priority."""
        with lowered(jvm_pid(self.spark.sparkContext), self.config.retrain_niceness):
            return self.train_and_save()

    def train_and_save(self, logged=None):
        """Train on the dataset files plus every logged rating accepted so far, and save.

        ``logged`` is the log as start-up already read it; retrains read their snapshot.

        Raises
        ------
        ModelRejected
            When the quality gate finds the new model worse than the serving one: it is
            saved marked rejected, and the serving one stays.
        """
        position, log_size = self.engine.accepted_position()
        data_fingerprint = dataset_fingerprint(self.spark, self.config.dataset)
        if logged is None:
            logged = self.ratings_log.read(log_size)
        dataset = load_dataset(self.spark, self.config.dataset, logged)
        model = train_measured(dataset, self.config.params, self.config.holdout, position, data_fingerprint)
        serving = self.engine.model
        reason = self.config.gate.rejection(model, serving)
        if reason is not None:
            at = datetime.now(timezone.utc).isoformat()
            self.store.save(model, rejection={"reason": reason, "serving": serving.version, "at": at})
            raise ModelRejected(model.version, reason, model.log_position)
        self.store.save(model)
        self.catalog.clear_activation()  # the newest accepted version serves from now on
        return model

    def train_exclusively(self):
        """``train_and_save`` while no other replica of the shared store retrains (a pg advisory lock).

        Raises
        ------
        RetrainSkipped
            When another replica holds the lock, or saved a newer model meanwhile (now served here).
        """
        with self.ratings_log.exclusive_retrain() as taken:
            if not taken:
                raise RetrainSkipped("another replica is retraining")
            if self.adopt_newest():
                raise RetrainSkipped("another replica saved a newer model")
            return self.retrain_and_save()

    def load_or_train(self):
        """Serve the newest saved model matching the data, or train one; then retrain in the background.

        With ``model_dir``: serve the newest model there, with the logged ratings folded in. With a
        shared store only one replica trains at a time; one starting later loads what it saved.
        """
        try:
            if self.config.serve_only:
                self.serve_newest_saved()
            else:
                with self.ratings_log.exclusive_retrain(blocking=True) if self.shared else nullcontext():
                    self.load_matching_or_train()
            if self.retrainer is not None:
                self.retrainer.start()
            if self.shared:
                self.follower.start()
                threading.Thread(target=self._watch_models, name="model-watcher", daemon=True).start()
            log.info("ready: model %s", self.engine.model.version)
        except Exception as error:
            log.error("no model could be loaded or trained (%s); stopping", describe(error))
            log.debug("the failure's traceback", exc_info=True)
            self.failed = True
            self.on_failure()

    def load_matching_or_train(self):
        logged = self.ratings_log.open()
        saved = None
        if self.config.model_dir:
            saved = self.model_as_saved()
        elif not self.config.force_retrain:
            data_fingerprint = dataset_fingerprint(self.spark, self.config.dataset)
            saved = self.activated_model(data_fingerprint, logged.num_rows) or self.store.load_matching(
                data_fingerprint, logged.num_rows
            )
        self.engine.replay(logged, covered=saved.log_position if saved else logged.num_rows)
        self.engine.swap_model(saved or self.train_and_save(logged))

    def serve_newest_saved(self):
        """A serving-only worker: the newest model a replica saved (waiting for the first), caught up from the store."""
        logged = self.ratings_log.open()
        model = self.store.load_newest()
        while model is None and not self._stopping.is_set():
            self._stopping.wait(MODEL_POLL_SECONDS)
            model = self.store.load_newest()
        if model is None:
            raise RuntimeError("stopped before any model was saved")
        logged = self.ratings_log.read() if model.log_position > logged.num_rows else logged
        self.engine.replay(logged, covered=model.log_position)
        self.engine.swap_model(model)

    def adopt_newest(self):
        """Serve the newest accepted version saved in the shared model store, if newer than the serving one."""
        serving = self.engine.model
        newest = next((v for v in self.store.versions() if self.store.rejection(v) is None), None)
        if serving is None or newest is None or newest <= serving.version:
            return False
        started = time.perf_counter()
        try:
            self.engine.swap_model(self.store.load(newest))
        except ValueError:  # swapped in meanwhile by this replica's own retrain
            return False
        log.info("model %s, saved by another replica, serves now (loaded in %.2fs)", newest, time.perf_counter() - started)
        return True

    def follow_model_store(self):
        """Serve what the shared model store says: the version activated there, else its newest accepted one.

        An activation (``POST /admin/models/<v>/activate`` on any replica) is recorded in the
        shared store, so every replica serves that version until a newer one is trained.
        """
        activated = self.catalog.activated()
        if activated is None:
            return self.adopt_newest()
        serving = self.engine.model
        if serving is None or serving.version == activated:
            return False
        self.engine.activate(self.store.load(activated))
        log.info("model %s, activated on another replica, serves now", activated)
        return True

    @property
    def forwards_retrains(self):
        """A serving worker has no Spark: a retrain asked of it is left in the store for the worker that trains."""
        return self.config.serve_only

    def forward_retrain(self):
        """Ask the training worker to retrain (within ``MODEL_POLL_SECONDS``): the admin route on a serving worker."""
        self.catalog.request_retrain(datetime.now(timezone.utc).isoformat())
        log.info("retrain requested; left in the model store for the training worker")

    def _watch_models(self):
        while not self._stopping.wait(MODEL_POLL_SECONDS):
            if self.retrainer is not None and self.catalog.take_retrain_request():
                log.info("a retrain asked of a serving worker starts here")
                self.retrainer.request()
            if self.retrainer is not None and self.retrainer.running:
                continue  # its own retrain swaps its model in
            try:
                self.follow_model_store()
            except (OSError, ValueError, KeyError) as error:
                log.warning("the newest saved model cannot be loaded yet (%s)", describe(error))

    def activated_model(self, data_fingerprint, log_records):
        """The version last activated, if it matches the data as ``load_matching`` would; else None."""
        entry = self.catalog.entry(self.catalog.activated() or "")
        if entry is None or entry.data_fingerprint != data_fingerprint or entry.log_position > log_records:
            return None
        log.info("serving activated model %s", entry.version)
        return self.store.load(entry.version)

    def activate(self, version):
        """Serve saved ``version`` now (rollback or roll forward), with the logged ratings folded in.

        Returns
        -------
        recommender.storage.model_catalog.CatalogEntry

        Raises
        ------
        KeyError
            When no such version is saved.
        """
        entry = self.catalog.entry(version)
        if entry is None:
            raise KeyError(version)
        model = self.store.load(version)
        if self.config.model_dir:
            model = dataclasses.replace(model, log_position=0)  # as model_as_saved: every logged rating folds in
        try:  # first: other replicas of a shared model store serve it too, and this one's watcher keeps it
            self.catalog.activate(version)
        except OSError as error:  # e.g. SageMaker's read-only /opt/ml/model: serves now, not after a restart
            log.warning("activation of %s not remembered across restarts: %s", version, error)
        self.engine.activate(model)
        log.info("model %s activated%s", version, " (rejected by the gate before)" if entry.rejection else "")
        return entry

    def model_as_saved(self):
        """The newest model in ``model_dir``, to serve without its dataset.

        Raises
        ------
        FileNotFoundError
            When the directory holds no loadable model.
        """
        model = self.store.load_newest()
        if model is None:
            raise FileNotFoundError(f"no saved model in {self.config.model_dir}")
        # Its log position counts ratings of the log it was trained with, not of this
        # state directory's: every rating logged here is to be folded in on top of it.
        return dataclasses.replace(model, log_position=0)

    def close(self):
        self._stopping.set()
        if self.retrainer is not None:
            self.retrainer.stop(timeout=30, cancel=self.spark.sparkContext.cancelAllJobs)
        self.ratings_log.close()
