import dataclasses
import errno
import json
import os
import resource
import signal
from dataclasses import replace

import numpy as np
import pytest

from recommender.storage.model_store import ModelStore, file_record


def assert_same_fields(loaded, saved, skip=()):
    """Every dataclass field equal (arrays element by element, with dtype), so a field the store forgets fails."""
    for field in dataclasses.fields(saved):
        if field.name in skip:
            continue
        expected, actual = getattr(saved, field.name), getattr(loaded, field.name)
        if isinstance(expected, np.ndarray):
            assert actual.dtype == expected.dtype, field.name
            np.testing.assert_array_equal(actual, expected, err_msg=field.name)
        elif dataclasses.is_dataclass(expected):
            assert_same_fields(actual, expected)
        else:
            assert actual == expected, field.name


def assert_same_model(loaded, saved):
    assert_same_fields(loaded, saved, skip=("spark_model",))


@pytest.fixture(scope="module")
def saved(tiny_model, tmp_path_factory):
    store = ModelStore(tmp_path_factory.mktemp("models"))
    folder = store.save(tiny_model)
    return store, folder


def test_a_saved_model_loads_back_equal_with_its_spark_model(saved, tiny_engine):
    store, folder = saved
    assert store.versions() == [tiny_engine.model.version]
    loaded = store.load(tiny_engine.model.version)
    assert_same_model(loaded, tiny_engine.model)
    ranking_rank = tiny_engine.model.params["ranking_rank"]  # both models are in the one version
    assert loaded.rank_item_factors.shape == (13, ranking_rank) and loaded.rank_user_factors.shape == (20, ranking_rank)
    assert os.path.isdir(os.path.join(folder, "als", "userFactors"))


def test_only_a_model_matching_the_data_and_log_is_loaded(saved, tiny_engine):
    store, _ = saved
    model = tiny_engine.model
    assert store.load_matching(model.data_fingerprint, log_records=0).version == model.version
    assert store.load_matching("other-files", log_records=0) is None


def test_a_half_written_version_is_never_loaded(saved, tiny_engine):
    store, _ = saved
    partial = os.path.join(store.directory, ".partial-29990101T000000.000000Z")
    os.makedirs(partial)
    missing_meta = os.path.join(store.directory, "29990101T000000.000000Z")
    os.makedirs(missing_meta)
    np.savez(os.path.join(missing_meta, "arrays.npz"), x=np.zeros(1))
    assert store.versions() == [tiny_engine.model.version]
    assert store.load_matching(tiny_engine.model.data_fingerprint, 0).version == tiny_engine.model.version


def test_only_the_newest_versions_are_kept(tiny_engine, tmp_path):
    store = ModelStore(tmp_path, keep=2)
    for version in ("20260101T000000.000001Z", "20260101T000000.000002Z", "20260101T000000.000003Z"):
        store.save(replace(tiny_engine.model, version=version, spark_model=None))
    assert store.versions() == ["20260101T000000.000003Z", "20260101T000000.000002Z"]


def test_a_saved_model_of_another_format_is_passed_over(tiny_engine, tmp_path):
    store = ModelStore(tmp_path)
    folder = store.save(replace(tiny_engine.model, spark_model=None))
    meta_path = os.path.join(folder, "meta.json")
    with open(meta_path, encoding="utf-8") as meta_file:
        meta = json.load(meta_file)
    meta["format"] = 1
    with open(meta_path, "w", encoding="utf-8") as meta_file:
        json.dump(meta, meta_file)
    assert store.load_matching(tiny_engine.model.data_fingerprint, 0) is None


def damage_truncated_arrays(folder):
    path = os.path.join(folder, "arrays.npz")
    with open(path, "rb+") as arrays:
        arrays.truncate(os.path.getsize(path) // 2)


def damage_flipped_byte(folder):
    path = os.path.join(folder, "arrays.npz")
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF  # same size, different contents: only the checksum can tell
    open(path, "wb").write(bytes(data))


def damage_invalid_meta(folder):
    with open(os.path.join(folder, "meta.json"), "w") as meta:
        meta.write('{"format": 3, "trai')


def damage_missing_catalog(folder):
    os.remove(os.path.join(folder, "catalog.json"))


def damage_other_arrays(folder):
    """arrays.npz replaced whole by valid arrays of other shapes, with meta.json's checksums made to match."""
    path = os.path.join(folder, "arrays.npz")
    with np.load(path) as saved:
        arrays = {name: value[:1] for name, value in saved.items()}
    np.savez(path, **arrays)
    meta_path = os.path.join(folder, "meta.json")
    meta = json.load(open(meta_path))
    meta["files"]["arrays.npz"] = file_record(open(path, "rb").read())
    json.dump(meta, open(meta_path, "w"))


@pytest.mark.parametrize("damage", [
    damage_truncated_arrays, damage_flipped_byte, damage_invalid_meta, damage_missing_catalog, damage_other_arrays,
])
def test_a_damaged_newest_version_is_passed_over_for_the_next_good_one(tiny_model, tmp_path, caplog, damage):
    store = ModelStore(tmp_path / "models", keep=5)
    store.save(tiny_model)
    newer = replace(tiny_model, version="29990101T000000.000000Z", spark_model=None)
    damage(store.save(newer))
    loaded = store.load_matching(tiny_model.data_fingerprint, log_records=0)
    assert loaded.version == tiny_model.version
    assert_same_model(loaded, tiny_model)
    assert "29990101T000000.000000Z" in caplog.text and ("damaged" in caplog.text or "lacks" in caplog.text)


def test_only_damaged_versions_mean_none_is_loaded(tiny_model, tmp_path):
    store = ModelStore(tmp_path / "models")
    damage_flipped_byte(store.save(replace(tiny_model, spark_model=None)))
    assert store.load_matching(tiny_model.data_fingerprint, log_records=0) is None


def test_a_save_on_a_full_disk_fails_cleanly_and_the_old_versions_stay(tiny_model, tmp_path):
    store = ModelStore(tmp_path / "models")
    store.save(replace(tiny_model, spark_model=None))
    newer = replace(tiny_model, version="29990101T000000.000000Z", spark_model=None)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (512, hard))  # no file of this process may grow past 512 bytes
    try:
        with pytest.raises(OSError) as failed:
            store.save(newer)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert failed.value.errno == errno.EFBIG
    assert sorted(os.listdir(store.directory)) == [tiny_model.version]  # no partial folder left
    assert_same_model(store.load(tiny_model.version), tiny_model)
