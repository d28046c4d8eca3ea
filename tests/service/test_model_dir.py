"""Serving a model directory (server.py --model-dir, SageMaker's /opt/ml/model), in process."""

from dataclasses import replace

from recommender.service.config import ServiceConfig
from recommender.service.lifecycle import Service
from recommender.storage.model_store import ModelStore


def model_dir_service(model_dir, state_dir):
    config = ServiceConfig(dataset=None, state_dir=str(state_dir), model_dir=str(model_dir))
    failures = []
    service = Service(None, config, on_failure=lambda: failures.append(True))  # no Spark: nothing to train
    service.load_or_train()
    return service, failures


def test_a_model_dir_is_served_as_it_is_and_posted_ratings_survive_a_restart(tiny_engine, tmp_path):
    # A log position from the log the model was trained with must not hide this state's ratings.
    ModelStore(tmp_path / "model").save(replace(tiny_engine.model, spark_model=None, log_position=50))
    service, failures = model_dir_service(tmp_path / "model", tmp_path / "state")
    assert not failures and service.retrainer is None
    assert service.engine.model.version == tiny_engine.model.version
    service.engine.add_ratings(0, [(1, 5.0), (2, 5.0), (3, 4.5)])
    service.close()

    restarted, failures = model_dir_service(tmp_path / "model", tmp_path / "state")
    assert not failures
    assert [r.movie.movie_id for r in restarted.engine.user_ratings(0)] == [1, 2, 3]
    top = restarted.engine.recommend(0, 3, 0)
    assert top.personalized and not {p.movie.movie_id for p in top.items} & {1, 2, 3}
    restarted.close()


def test_an_empty_model_dir_fails_start_up(tmp_path, caplog):
    service, failures = model_dir_service(tmp_path / "model", tmp_path / "state")
    assert failures == [True] and service.failed and service.engine.model is None
    assert "no saved model in" in caplog.text
    service.close()

