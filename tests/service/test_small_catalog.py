"""A small shop served with the defaults: min_ratings fitted to its data, so top-N lists are not empty."""

from app import create_app
from recommender.limits import DEFAULT_MIN_RATINGS
from recommender.model.params import ModelParams
from recommender.pipeline.jobs import purchases_job
from recommender.service.config import ServiceConfig
from recommender.service.lifecycle import Service
from tests.pipeline.fixtures import small_shop
from tests.support.tiny_data import TINY_PARAMS


def test_a_small_shop_served_with_the_defaults_answers_top_5_with_items(spark, tmp_path):
    retail = tmp_path / "retail.csv"
    retail.write_text(small_shop())
    dataset = str(tmp_path / "shop")
    purchases_job(spark, str(retail), dataset)  # what `etl.py purchases` runs
    config = ServiceConfig(dataset=dataset, state_dir=str(tmp_path / "state"), params=ModelParams(**TINY_PARAMS))
    service = Service(spark, config, on_failure=lambda: None)
    service.retrainer = None  # no background retraining in this test
    service.load_or_train()
    service.close()
    client = create_app(service.engine).test_client()  # the app's defaults, as server.py without options

    health = client.get("/health").get_json()["model"]
    assert 50 < health["movies"] <= 68 and health["minRatingsSource"] == "data"
    assert 1 <= health["minRatings"] < DEFAULT_MIN_RATINGS
    for customer in (13000, 13017, 99999):  # two buyers and a stranger
        top = client.get(f"/{customer}/ratings/top/5").get_json()
        assert len(top["recommendations"]) == 5, top
        assert all(item["ratingsCount"] >= 1 for item in top["recommendations"])
    assert client.get("/13000/ratings/top/5?min_ratings=25").get_json()["recommendations"] == []  # asked: kept
