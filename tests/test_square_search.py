"""What the Square attack's random search proposes, read from the images it queries: vertical stripes
first, then windows of the size the schedule says, inside the image, with both signs; and the edges of
its budget (one or two queries, ε = 0, one image, a batch with nothing to attack). Mutation testing
(make mutation) found these untested. (Breaking models, counting queries, bad inputs:
tests/test_square.py.)"""

import math

import numpy as np
import pytest
import tensorflow as tf

from course_utils import attacks
from course_utils.attacks.square import window_share

from .helpers import linear_model, worst_case_margin

EPS = 0.1


def recording_model(classes=3):
    """A model that answers class 0 for every image, whatever it is (so no proposal is ever kept), and
    records each batch of images it is asked about: returns ``(model, seen)``."""
    seen = []

    def record(x):
        seen.append(x.copy())
        return np.tile(np.eye(1, classes, dtype=np.float32), (len(x), 1))

    def model(x):
        return tf.reshape(tf.numpy_function(record, [x], tf.float32), [-1, classes])

    return model, seen


def images(shape, n=1, seed=0):
    """Images far enough from 0 and 1 that ±EPS is never clipped."""
    return np.random.default_rng(seed).uniform(EPS, 1 - EPS, size=(n, *shape)).astype(np.float32)


def queried(shape, queries, seed=0, **kwargs):
    """The images one Square run on a single image queried: the clean image, the stripes, the proposals."""
    model, seen = recording_model()
    x = images(shape, seed=seed)
    attacks.square(model, x, np.zeros(1, int), eps=EPS, queries=queries, seed=seed, **kwargs)
    return x[0], [batch[0] for batch in seen]


def test_the_first_proposal_is_vertical_stripes_of_both_signs():
    for seed in range(3):
        x, seen = queried((8, 8, 1), queries=2, seed=seed)
        assert len(seen) == 2
        np.testing.assert_array_equal(seen[0], x)
        delta = seen[1] - x
        np.testing.assert_allclose(np.abs(delta), EPS, atol=1e-6)
        np.testing.assert_array_equal(np.sign(delta), np.sign(delta[:1]).repeat(8, axis=0))  # columns
        assert set(np.sign(delta[0, :, 0])) == {-1.0, 1.0}


@pytest.mark.parametrize("shape", [(8, 8, 1), (6, 10, 1), (10, 6, 2)])
@pytest.mark.parametrize("rescale", [True, False])
def test_each_window_has_the_scheduled_side_and_lies_inside_the_image(shape, rescale):
    queries = 40
    x, seen = queried(shape, queries, rescale_schedule=rescale)
    stripes, proposals = seen[1], seen[2:]
    assert len(proposals) == queries - 2
    height, width = shape[:2]
    for iteration, proposal in enumerate(proposals):
        share = window_share(iteration, queries, 0.8, rescale)
        side = min(max(round(math.sqrt(share * height * width)), 1), height, width)
        # Nothing is ever kept, so each proposal is the stripes with one window re-signed: the pixels
        # it changes fill whole columns of the window (the stripes are constant down a column).
        rows, cols = np.nonzero((proposal != stripes).any(axis=-1))
        assert len(rows), iteration  # a proposal that would change nothing has its signs flipped
        assert rows.max() - rows.min() + 1 == side, (iteration, side)
        assert cols.max() - cols.min() + 1 <= side
        np.testing.assert_allclose(np.abs(proposal - x), EPS, atol=1e-6)


def test_windows_push_pixels_both_ways():
    x, seen = queried((8, 8, 1), queries=40, rescale_schedule=False)
    stripes = seen[1]
    moves = [np.sign(p - stripes)[p != stripes] for p in seen[2:]]
    assert sum((m < 0).all() for m in moves) >= 5 and sum((m > 0).all() for m in moves) >= 5


def test_the_schedule_is_the_reference_codes():
    """The Square paper's code (p_selection): iteration ``it`` of ``n_iters`` is rescaled to
    ``int(it / n_iters * 10000)``, and p halves past 10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000."""
    for queries in (100, 4321, 5000, 9999):
        for it in range(queries):
            scaled = int(it / queries * 10000)
            halvings = sum(scaled > h for h in (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000))
            assert window_share(it, queries) == 0.8 / 2**halvings, (queries, it)


@pytest.mark.slow
def test_autoattacks_budget_of_5000_queries_is_the_default():
    model, seen = recording_model()
    attacks.square(model, images((2, 2, 1)), np.zeros(1, int), eps=EPS, seed=0)
    assert len(seen) == 5000
    _, used = attacks.square_with_queries(model, images((2, 2, 1)), np.zeros(1, int), eps=EPS, seed=0)
    assert used.tolist() == [5000]


def test_square_passes_every_argument_on():
    x = np.random.default_rng(1).uniform(-1.0, 0.2, size=(20, 4, 4, 1)).astype(np.float32)
    model, _, _ = linear_model((4, 4, 1), 10)
    y = model(x).numpy().argmax(1)
    kwargs = dict(eps=0.3, queries=30, rescale_schedule=False, clip_min=-1.0, clip_max=0.2, batch_size=7)
    images = attacks.square(model, x, y, seed=0, **kwargs)
    same, _ = attacks.square_with_queries(model, x, y, seed=0, **kwargs)
    np.testing.assert_array_equal(images, same)
    assert images.min() >= -1.0 and images.max() <= 0.2


def test_the_smallest_budgets_batches_and_windows():
    model, seen = recording_model()
    x, y = images((4, 4, 1), n=3), np.zeros(3, int)
    out, used = attacks.square_with_queries(model, x, y, eps=EPS, queries=1)
    np.testing.assert_array_equal(out, x)
    assert used.tolist() == [1, 1, 1] and len(seen) == 1
    _, used = attacks.square_with_queries(model, x, y, eps=EPS, queries=2, batch_size=1, p_init=1.0)
    assert used.tolist() == [2, 2, 2]
    with pytest.raises(ValueError, match="p_init"):
        attacks.square(model, x, y, eps=EPS, p_init=1.5)
    with pytest.raises(ValueError, match="larger than the whole pixel range"):
        attacks.square(model, x, y, eps=1.5)


def test_eps_zero_spends_one_query_per_image():
    model, seen = recording_model()
    x = images((4, 4, 1), n=3)
    out, used = attacks.square_with_queries(model, x, np.zeros(3, int), eps=0.0, queries=20)
    np.testing.assert_array_equal(out, x)
    assert used.tolist() == [1, 1, 1] and len(seen) == 1


@pytest.fixture(scope="module")
def breakable():
    """A linear model and images its Square attack breaks, but not with the stripes alone."""
    model, w, b = linear_model((4, 4, 1), 10, seed=5)
    x = np.random.default_rng(6).uniform(0, 1, size=(200, 4, 4, 1)).astype(np.float32)
    y = model(x).numpy().argmax(1)
    easy = np.flatnonzero(worst_case_margin(x, y, w, b, 0.1) > 0.3)
    _, used = attacks.square_with_queries(model, x[easy], y[easy], eps=0.1, queries=300, seed=0)
    picked = easy[(used > 2) & (used < 300)][:4]
    assert len(picked) == 4
    return model, x[picked], y[picked]


def test_a_single_image_is_attacked(breakable):
    model, x, y = breakable
    for i in range(len(x)):
        out, used = attacks.square_with_queries(
            model, x[i : i + 1], y[i : i + 1], eps=0.1, queries=300, seed=0
        )
        assert model(out).numpy().argmax(1)[0] != y[i] and 2 < used[0] < 300


def test_a_batch_with_nothing_to_attack_does_not_end_the_attack(breakable):
    model, x, y = breakable
    wrong = np.concatenate([(y[:1] + 1) % 10, y])  # the first image, misclassified already: one query
    out, used = attacks.square_with_queries(
        model, np.concatenate([x[:1], x]), wrong, eps=0.1, queries=300, seed=0, batch_size=1
    )
    assert used[0] == 1 and (used[1:] > 2).all()
    assert (model(out[1:]).numpy().argmax(1) != y).all()  # every image broken: all returned


def test_the_kernels_are_compiled_once_per_image_shape():
    model, _ = recording_model()
    for shape in ((8, 8, 1), (6, 8, 1), (8, 8, 1), (6, 8, 1)):
        attacks.square(model, images(shape, n=2), np.zeros(2, int), eps=EPS, queries=5, seed=0)
    assert len(attacks.compiled_kernels(model)) == 2
