"""The service trains from an etl.py Parquet dataset, and its saved model matches it until the next ETL run."""

from recommender.datasets.layouts import dataset_fingerprint
from recommender.model.params import ModelParams
from recommender.pipeline.jobs import merge_job, movielens_job
from recommender.service.config import ServiceConfig
from recommender.service.lifecycle import Service
from tests.support.tiny_data import TINY_PARAMS


def start(spark, dataset, state_dir):
    config = ServiceConfig(dataset=dataset, state_dir=str(state_dir), params=ModelParams(**TINY_PARAMS))
    failures = []
    service = Service(spark, config, on_failure=lambda: failures.append(True))
    service.retrainer = None  # no background retraining in this test
    service.load_or_train()
    service.close()
    assert not failures
    return service.engine.model


def test_service_trains_from_parquet_and_reuses_the_model_until_the_dataset_changes(spark, tiny_dataset_dir, tmp_path):
    dataset = str(tmp_path / "parquet")
    movielens_job(spark, str(tiny_dataset_dir), dataset)
    first = start(spark, dataset, tmp_path / "state")
    assert first.data_fingerprint == dataset_fingerprint(spark, dataset)
    assert start(spark, dataset, tmp_path / "state").version == first.version  # loaded, not retrained
    log = tmp_path / "more.csv"
    log.write_text("userId,movieId,rating,timestamp\n1000,1,5.0,2000000000\n")
    merge_job(spark, str(log), dataset)
    retrained = start(spark, dataset, tmp_path / "state")
    assert retrained.version != first.version and 1000 in retrained.user_ids.tolist()
