import json

import keras
import numpy as np
import pytest

from course_utils import cache, config, models

SETTINGS = {"hidden": [4], "epochs": 1}
X = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)


class Counter:
    """A train_fn that counts its calls and returns a small history."""

    def __init__(self):
        self.calls = 0

    def __call__(self, model):
        self.calls += 1
        return {"loss": [1.0, 0.5]}


def build():
    return models.build_mlp((4,), name="tiny")


def test_round_trip(tmp_path):
    train = Counter()
    first, record = cache.load_or_train("tiny", SETTINGS, build, train, cache_dir=tmp_path, verbose=False)
    assert not record.from_cache and train.calls == 1
    assert record.path.exists() and record.path.with_suffix(".json").exists()
    second, again = cache.load_or_train("tiny", SETTINGS, build, train, cache_dir=tmp_path, verbose=False)
    assert again.from_cache and train.calls == 1
    assert again.history == {"loss": [1.0, 0.5]}
    np.testing.assert_allclose(first(X), second(X), rtol=0, atol=0)
    assert not list(tmp_path.glob(".*tmp*")), "temporary files left behind"


def test_settings_define_the_key(tmp_path):
    assert cache.model_key("tiny", SETTINGS) == cache.model_key("tiny", dict(reversed(SETTINGS.items())))
    assert cache.model_key("tiny", SETTINGS) != cache.model_key("tiny", {**SETTINGS, "epochs": 2})
    assert cache.model_key("tiny", SETTINGS) != cache.model_key("other", SETTINGS)
    with pytest.raises(ValueError, match="JSON"):
        cache.model_key("tiny", {"f": object()})
    with pytest.raises(ValueError, match="Model name"):
        cache.load("../evil", SETTINGS, cache_dir=tmp_path)


def damage_truncate(model_path, record_path):
    model_path.write_bytes(model_path.read_bytes()[:100])


def damage_garbage_with_matching_checksum(model_path, record_path):
    model_path.write_bytes(b"not a keras file")
    meta = json.loads(record_path.read_text())
    meta["sha256"] = cache.sha256(model_path)
    record_path.write_text(json.dumps(meta))


def damage_missing_record(model_path, record_path):
    record_path.unlink()


def damage_stale_keras(model_path, record_path):
    meta = json.loads(record_path.read_text())
    meta["keras_version"] = "2.15.0"
    record_path.write_text(json.dumps(meta))


def damage_bad_json(model_path, record_path):
    record_path.write_text("{not json")


@pytest.mark.parametrize(
    "damage, reason",
    [
        (damage_truncate, "checksum"),
        (damage_garbage_with_matching_checksum, "Keras cannot load it"),
        (damage_missing_record, "record file is missing"),
        (damage_stale_keras, "Keras 2.15.0"),
        (damage_bad_json, "unreadable"),
    ],
)
def test_damaged_or_stale_entry_is_reported_kept_and_retrained(tmp_path, damage, reason):
    train = Counter()
    _, record = cache.load_or_train("tiny", SETTINGS, build, train, cache_dir=tmp_path, verbose=False)
    damage(record.path, record.path.with_suffix(".json"))
    with pytest.warns(UserWarning, match=reason):
        model, again = cache.load_or_train("tiny", SETTINGS, build, train, cache_dir=tmp_path, verbose=False)
    assert not again.from_cache and train.calls == 2
    assert model(X).shape == (3, 10)
    kept = list((tmp_path / "quarantine").rglob("tiny-*.keras"))
    assert len(kept) == 1, "the damaged file must be moved aside, not deleted"
    _, third = cache.load_or_train("tiny", SETTINGS, build, train, cache_dir=tmp_path, verbose=False)
    assert third.from_cache and train.calls == 2


def test_load_returns_none_when_absent(tmp_path):
    assert cache.load("tiny", SETTINGS, cache_dir=tmp_path) is None


def test_unsafe_lambda_layers_are_not_deserialised(tmp_path):
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(inputs))
    cache.save(model, "lam", SETTINGS, cache_dir=tmp_path)
    with pytest.raises(cache.CacheEntryError, match="cannot load"):
        cache.load("lam", SETTINGS, cache_dir=tmp_path)


def test_arrays_returned_by_train_fn_are_kept_and_checksummed(tmp_path):
    grids = np.arange(12, dtype=np.float32).reshape(3, 4)

    def train(model):
        return {"loss": [1.0]}, {"grids": grids}

    _, record = cache.load_or_train("tiny", SETTINGS, build, train, cache_dir=tmp_path, verbose=False)
    np.testing.assert_array_equal(record.arrays["grids"], grids)
    _, again = cache.load_or_train("tiny", SETTINGS, build, train, cache_dir=tmp_path, verbose=False)
    assert again.from_cache and again.history == {"loss": [1.0]}
    np.testing.assert_array_equal(again.arrays["grids"], grids)
    # a damaged arrays file makes the entry untrustworthy: reported, moved aside, retrained
    record.path.with_suffix(".npz").write_bytes(b"damaged")
    with pytest.warns(UserWarning, match="arrays file"):
        _, third = cache.load_or_train("tiny", SETTINGS, build, train, cache_dir=tmp_path, verbose=False)
    assert not third.from_cache
    assert list((tmp_path / "quarantine").rglob("tiny-*.npz"))
    assert not list(tmp_path.glob(".*tmp*"))


def test_the_suite_runs_with_a_model_cache_of_its_own():
    """conftest.py points the cache into a temporary folder: no test can fill the user's cache."""
    from tests import conftest

    assert config.cache_dir() == conftest.SUITE_CACHE != conftest.USER_CACHE


def test_locate_names_the_file_without_building_or_training(tmp_path):
    calls = []

    def builder(size):
        return cache.load_or_train(
            "toy", {"size": size}, lambda: calls.append("build"), lambda m: calls.append("train"),
            cache_dir=tmp_path, verbose=False,
        )  # fmt: skip

    path = cache.locate(builder, 3)
    assert path.parent == tmp_path and path.name.startswith("toy-") and path.suffix == ".keras"
    assert cache.locate(builder, 4) != path and calls == [] and not path.exists()
    with pytest.raises(ValueError, match="without a cache lookup"):
        cache.locate(lambda: None)
    assert not cache._locating  # reset, also after the error
