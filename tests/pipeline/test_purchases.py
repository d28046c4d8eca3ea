import datetime

from recommender.datasets.layouts import load_dataset
from recommender.datasets.parquet import read_manifest
from recommender.pipeline.jobs import purchases_job
from tests.pipeline.fixtures import RETAIL


def retail_file(tmp_path, text=RETAIL):
    path = tmp_path / "retail.csv"
    path.write_text(text)
    return str(path)


def values(spark, output):
    dataset = load_dataset(spark, output)
    version = read_manifest(spark, output)["version"]
    codes = {row.movieId: row.externalId for row in spark.read.parquet(f"{output}/{version}/movies").collect()}
    return dataset, {(row.userId, codes[row.movieId]): row.rating for row in dataset.ratings.collect()}


def test_purchases_drop_and_count_cancelled_non_positive_and_anonymous_rows(spark, tmp_path):
    output = str(tmp_path / "out")
    manifest = purchases_job(spark, retail_file(tmp_path), output)
    assert manifest["implicit"] is True and manifest["kind"] == "purchases"
    assert manifest["last_run"]["malformed"] == {
        "cancelled invoice": 1, "non-positive quantity": 1, "no customer": 1,
    }
    dataset, counts = values(spark, output)
    assert dataset.implicit is True
    assert counts == {(17850, "85123A"): 2.0, (17850, "71053"): 1.0, (13047, "22423"): 1.0, (13047, "71053"): 1.0}
    titles = {row.title for row in dataset.movies.collect()}
    assert "REGENCY CAKESTAND, 3 TIER" in titles


def test_quantity_value_and_since(spark, tmp_path):
    output = str(tmp_path / "out")
    purchases_job(spark, retail_file(tmp_path), output, value="quantity", since=datetime.date(2010, 12, 2))
    _, counts = values(spark, output)
    assert counts == {(17850, "85123A"): 2.0, (13047, "22423"): 1.0, (13047, "71053"): 3.0}


def test_item_ids_stay_stable_when_new_codes_arrive(spark, tmp_path):
    output = str(tmp_path / "out")
    purchases_job(spark, retail_file(tmp_path), output)
    before = {row.externalId: row.movieId for row in spark.read.parquet(f"{output}/v000001/movies").collect()}
    later = RETAIL.splitlines()[0] + "\n536999,10002,INFLATABLE POLITICAL GLOBE,1,1/9/2011 9:00,0.85,12583,France\n"
    purchases_job(spark, retail_file(tmp_path, later), output)
    after = {row.externalId: row.movieId for row in spark.read.parquet(f"{output}/v000002/movies").collect()}
    assert {code: after[code] for code in before} == before
    assert after["10002"] == max(before.values()) + 1
