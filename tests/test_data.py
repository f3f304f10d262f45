import warnings

import numpy as np
import pytest

from course_utils import data

from .helpers import write_idx_dataset


@pytest.fixture
def fake_files(monkeypatch):
    """Make the loader accept the fake dataset's checksums."""

    def install(files):
        monkeypatch.setattr(data, "FASHION_MNIST_FILES", files)

    return install


def test_loads_images_as_float_in_unit_range(isolated_data_env, fake_files):
    folder = isolated_data_env / "somewhere"
    files, arrays = write_idx_dataset(folder)
    fake_files(files)
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist(folder)
    assert x_train.shape == (40, 28, 28, 1) and x_test.shape == (20, 28, 28, 1)
    assert x_train.dtype == np.float32 and 0.0 <= x_train.min() and x_train.max() <= 1.0
    np.testing.assert_array_equal(x_train[..., 0], arrays["train"][0] / np.float32(255))
    np.testing.assert_array_equal(y_test, arrays["t10k"][1])
    assert np.issubdtype(y_train.dtype, np.integer)


def test_search_order(isolated_data_env, fake_files, monkeypatch):
    tmp = isolated_data_env
    places = {
        "argument": tmp / "arg",
        "env": tmp / "env",
        "repo": tmp / "repo" / "data",
        "debian": tmp / "debian",
        "keras": tmp / "keras_home" / "datasets" / "fashion-mnist",
    }
    files = None
    for folder in places.values():
        files, _ = write_idx_dataset(folder)  # same seed: identical files everywhere
    fake_files(files)
    monkeypatch.setenv(data.DATA_ENV_VAR, str(places["env"]))
    assert data.locate_fashion_mnist(places["argument"]) == places["argument"]
    order = list(places)
    for i, name in enumerate(order[:-1]):
        # Remove the winner; the next place in the documented order must win.
        for f in places[name].iterdir():
            f.unlink()
        assert data.locate_fashion_mnist(places["argument"]) == places[order[i + 1]]


def test_checksum_mismatch_is_skipped_with_a_warning(isolated_data_env, fake_files):
    tmp = isolated_data_env
    files, _ = write_idx_dataset(tmp / "debian")
    write_idx_dataset(tmp / "repo" / "data", seed=1)  # different content, wrong checksums
    fake_files(files)
    with pytest.warns(UserWarning, match="checksum mismatch"):
        assert data.locate_fashion_mnist() == tmp / "debian"


def test_nothing_found_lists_every_place_and_both_fixes(isolated_data_env, fake_files):
    tmp = isolated_data_env
    files, _ = write_idx_dataset(tmp / "repo" / "data", seed=1)
    (tmp / "repo" / "data" / "t10k-labels-idx1-ubyte.gz").unlink()
    fake_files({**files, "t10k-labels-idx1-ubyte.gz": "0" * 64})
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load_fashion_mnist(tmp / "nowhere")
    message = str(info.value)
    for place in (
        tmp / "nowhere",
        tmp / "repo" / "data",
        tmp / "debian",
        tmp / "keras_home" / "datasets" / "fashion-mnist",
    ):
        assert str(place) in message
    assert "missing t10k-labels-idx1-ubyte.gz" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "keras.datasets.fashion_mnist.load_data()" in message
    assert "no network in this test" in message


def test_download_false_does_not_try_the_network(isolated_data_env, monkeypatch):
    def fail(*args):
        raise AssertionError("must not download")

    monkeypatch.setattr(data, "_download_with_keras", fail)
    with pytest.raises(data.DatasetNotFoundError, match="not attempted"):
        data.load_fashion_mnist(download=False)


@pytest.mark.skipif(not data.DEBIAN_DIR.is_dir(), reason="Debian's dataset-fashion-mnist not installed")
def test_real_fashion_mnist_from_debian():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist(data.DEBIAN_DIR, download=False)
    assert x_train.shape == (60_000, 28, 28, 1) and x_test.shape == (10_000, 28, 28, 1)
    assert np.bincount(y_train).tolist() == [6_000] * 10
    assert np.bincount(y_test).tolist() == [1_000] * 10
    assert x_train.min() == 0.0 and x_train.max() == 1.0


def test_take_subset_is_balanced_and_repeatable():
    y = np.repeat(np.arange(10), 100)
    x = np.arange(1000)
    xs, ys = data.take_subset(x, y, 250, seed=3)
    assert len(xs) == 250
    assert set(np.bincount(ys).tolist()) == {25}
    np.testing.assert_array_equal(y[xs], ys)  # images stay with their labels
    np.testing.assert_array_equal(xs, data.take_subset(x, y, 250, seed=3)[0])
    assert not np.array_equal(xs, data.take_subset(x, y, 250, seed=4)[0])
    assert data.take_subset(x, y, None)[0] is x
    with pytest.raises(ValueError, match="matching"):
        data.take_subset(x, y[:-1], 10)


def test_make_dataset_batches_and_seeded_shuffle():
    x = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1)
    y = np.arange(10)

    def first_epoch(seed):
        return np.concatenate([b.numpy() for b, _ in data.make_dataset(x, y, batch_size=4, seed=seed)])

    batches = list(data.make_dataset(x, y, batch_size=4, shuffle=False))
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(first_epoch(1), first_epoch(1))
    assert sorted(first_epoch(1).ravel().tolist()) == list(range(10))
    for images, labels in data.make_dataset(x, y, batch_size=4, seed=2):
        np.testing.assert_array_equal(images.numpy().ravel(), labels.numpy())
