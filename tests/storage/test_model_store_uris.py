"""The model store through the SparkContext's Hadoop FileSystem: a file:// URI works as a plain path does.

No HDFS or S3 is reachable from the tests; ``file://`` goes through the same Hadoop API calls
(Hadoop's checksummed LocalFileSystem, whose ``.crc`` files show the write went through it).
"""

import dataclasses
import os

import pytest

from recommender.storage.files import HadoopFiles, LocalFiles
from recommender.storage.model_catalog import ModelCatalog
from recommender.storage.model_store import ModelStore
from tests.storage.test_model_store import assert_same_model


def newer(model, day):
    """``model`` under a version of 2099-01-``day``, without its Spark model."""
    return dataclasses.replace(model, version=f"209901{day:02d}T000000.000000Z", spark_model=None)


def test_a_file_uri_store_saves_lists_loads_and_prunes_through_hadoop(spark, tiny_model, tmp_path):
    directory = tmp_path / "models"
    store = ModelStore(f"file://{directory}", keep=2, files=HadoopFiles(spark))
    versions = [newer(tiny_model, day) for day in (1, 2, 3)]
    store.save(dataclasses.replace(versions[0], spark_model=tiny_model.spark_model))
    assert os.path.exists(directory / versions[0].version / ".arrays.npz.crc")  # Hadoop's LocalFileSystem wrote it
    assert os.path.isdir(directory / versions[0].version / "als" / "userFactors")
    for model in versions[1:]:
        store.save(model)
    assert store.versions() == [versions[2].version, versions[1].version]  # the oldest pruned
    assert_same_model(store.load_newest(), versions[2])
    assert store.load_matching(tiny_model.data_fingerprint, log_records=0).version == versions[2].version
    catalog = ModelCatalog(store)
    catalog.activate(versions[1].version)
    assert catalog.activated() == versions[1].version
    catalog.clear_activation()
    assert catalog.activated() is None


@pytest.mark.parametrize("writer_uri", [True, False])
def test_a_uri_and_a_plain_path_are_one_store_for_spark_and_for_processes_without_it(spark, tiny_model, tmp_path, writer_uri):
    directory = tmp_path / "models"
    uri, plain = f"file://{directory}", str(directory)
    ModelStore(uri if writer_uri else plain, files=HadoopFiles(spark)).save(newer(tiny_model, 1))
    for reader in (ModelStore(plain, files=HadoopFiles(spark)), ModelStore(uri, files=HadoopFiles(spark)),
                   ModelStore(uri, files=LocalFiles()), ModelStore(plain, files=LocalFiles())):
        assert reader.versions() == [newer(tiny_model, 1).version]
        assert_same_model(reader.load_newest(), newer(tiny_model, 1))


def test_a_store_on_a_filesystem_hadoop_lacks_fails_as_an_os_error(spark, tiny_model):
    store = ModelStore("nosuchfs://host/models", files=HadoopFiles(spark))
    with pytest.raises(OSError, match="nosuchfs"):
        store.versions()
    with pytest.raises(ValueError, match="needs Spark's Hadoop client"):
        ModelStore("hdfs://namenode/models", files=LocalFiles()).versions()


def test_an_activation_written_without_spark_is_read_through_hadoop(spark, tiny_model, tmp_path):
    directory = str(tmp_path / "models")
    driver, worker = ModelStore(directory, files=HadoopFiles(spark)), ModelStore(directory, files=LocalFiles())
    for day in (1, 2):
        driver.save(newer(tiny_model, day))
    ModelCatalog(driver).activate(newer(tiny_model, 2).version)  # leaves Hadoop's .active.json.crc behind
    ModelCatalog(worker).activate(newer(tiny_model, 1).version)  # a serving worker's activation, no Spark
    assert ModelCatalog(driver).activated() == newer(tiny_model, 1).version


def test_a_retrain_asked_of_a_worker_without_spark_is_taken_once_through_hadoop(spark, tmp_path):
    directory = str(tmp_path / "models")
    driver = ModelCatalog(ModelStore(directory, files=HadoopFiles(spark)))
    worker = ModelCatalog(ModelStore(directory, files=LocalFiles()))
    assert not driver.take_retrain_request()
    for _ in range(2):  # two requests before the driver looks: one retrain
        worker.request_retrain("2099-01-01T00:00:00+00:00")
    assert driver.take_retrain_request()
    assert not driver.take_retrain_request()
    worker.request_retrain("2099-01-02T00:00:00+00:00")
    assert driver.take_retrain_request()
