"""A shop where each customer bought each item once: every count is 1, and the ranking model still trains.

With the ratings' shift of 3 no count would be a preference (nothing to fit); implicit data
uses the count itself (``recommender.model.preferences``).
"""

import random

from recommender.datasets.layouts import load_dataset
from recommender.model.live_model import LiveModel
from recommender.model.params import ModelParams
from recommender.offline.heldout import Holdout, train_measured
from recommender.pipeline.jobs import purchases_job
from tests.support.tiny_data import TINY_PARAMS

KITCHEN = range(0, 12)
GARDEN = range(12, 24)
HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def single_purchases(customers_per_aisle=30, items_each=4, seed=5):
    """Retail lines where each customer bought ``items_each`` items of one aisle, each once."""
    chance = random.Random(seed)
    lines, invoice = [HEADER], 700000
    for aisle, items in enumerate((KITCHEN, GARDEN)):
        for number in range(customers_per_aisle):
            invoice += 1
            customer = 20000 + 100 * aisle + number
            for item in chance.sample(items, items_each):
                lines.append(f"{invoice},SKU{item:03d},ITEM {item},1,12/1/2010 10:00,1.25,{customer},United Kingdom")
    return "\n".join(lines) + "\n"


def test_every_count_one_trains_and_serves_personalized_lists(spark, tmp_path):
    retail = tmp_path / "retail.csv"
    retail.write_text(single_purchases())
    output = str(tmp_path / "shop")
    purchases_job(spark, str(retail), output)
    dataset = load_dataset(spark, output)
    assert {row.rating for row in dataset.ratings.select("rating").distinct().collect()} == {1.0}

    model = train_measured(dataset, ModelParams(**TINY_PARAMS), Holdout(share=0.0))  # what the service runs
    assert model.params["ranking_rating_shift"] == 0.0
    live = LiveModel()
    live.swap_model(model)
    for customer in (20000, 20005, 20100, 20107):
        own = set(model.catalog.movie_ids[model.user(customer).rows])
        served = live.recommend(customer, 5, order="relevance")  # the defaults: the fitted min_ratings
        assert served.personalized and len(served.items) == 5
        assert not own & {p.movie.movie_id for p in served.items}
