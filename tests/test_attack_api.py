"""The attacks' one convention (course_utils.attacks' docstring and PARAMETERS), checked by reading
every attack's signature, then by calling each attack with the arguments the convention promises."""

import inspect

import numpy as np
import pytest

from course_utils import attacks, evaluation, labels

from .helpers import linear_model

ATTACKS = [getattr(attacks, name) for name in attacks.ATTACKS]
BANNED = {"loss_fn", "targeted", "steps", "pgd_steps", "rng", "return_queries", "n_iter", "n_queries"}


def test_every_public_attack_is_listed():
    """A new attack in ``__all__`` that returns images must join ATTACKS (and so these checks)."""
    takes_model_x_y = {
        name
        for name in attacks.__all__
        if callable(getattr(attacks, name))
        and list(inspect.signature(getattr(attacks, name)).parameters)[:3] == ["model", "x", "y"]
    }
    assert takes_model_x_y <= set(attacks.ATTACKS) | {"input_gradients"}
    assert set(attacks.ATTACKS) <= takes_model_x_y


@pytest.mark.parametrize("attack", ATTACKS, ids=attacks.ATTACKS)
def test_signature_follows_the_convention(attack):
    params = inspect.signature(attack).parameters
    names = list(params)
    assert names[:3] == ["model", "x", "y"], "model, x and y come first, in that order"
    assert [params[n].kind for n in names[:3]] == [inspect.Parameter.POSITIONAL_OR_KEYWORD] * 3
    if attack is not attacks.pgd_tensor:  # in a training step y is always given
        assert params["y"].default is None, "y=None attacks the model's own predictions"
    rest = names[3:]
    assert all(params[n].kind is inspect.Parameter.KEYWORD_ONLY for n in rest), "the rest by keyword"
    assert not BANNED & set(rest), f"old names: {BANNED & set(rest)}"
    unknown = set(rest) - set(attacks.PARAMETERS)
    assert not unknown, f"not in attacks.PARAMETERS: {unknown}"
    assert params["eps"].default is inspect.Parameter.empty, (
        "eps has no default: the threat model is a choice"
    )
    assert params["norm"].default == "inf"
    for name in ("clip_min", "clip_max", "seed", "target", "loss", "batch_size"):
        if name in params:
            assert params[name].default == {"clip_min": 0.0, "clip_max": 1.0, "seed": None, "target": None,
                                            "loss": "ce", "batch_size": 512}[name], name  # fmt: skip


def test_every_parameter_means_one_thing_and_has_one_default():
    defaults = {}
    for attack in ATTACKS:
        for name, p in inspect.signature(attack).parameters.items():
            if name in ("model", "x", "y") or p.default is inspect.Parameter.empty:
                continue
            defaults.setdefault(name, set()).add(repr(p.default))
    # queries: 5000 = AutoAttack's budget; every other shared keyword has one default everywhere.
    assert {name: d for name, d in defaults.items() if len(d) > 1} == {}


@pytest.fixture(scope="module")
def setting():
    rng = np.random.default_rng(0)
    model, _, _ = linear_model((4, 4, 1), 5, rng, bias=False)  # the images come from the same generator
    x = rng.uniform(0, 1, size=(12, 4, 4, 1)).astype(np.float32)
    return model, x, np.asarray(model(x)).argmax(1)


def numpy_attacks():
    return [
        lambda m, x, y, **kw: attacks.fgsm(m, x, y, eps=0.1, **kw),
        lambda m, x, y, **kw: attacks.pgd(m, x, y, eps=0.1, step_size=0.05, num_steps=3, **kw),
        lambda m, x, y, **kw: attacks.apgd(m, x, y, eps=0.1, num_steps=3, **kw),
        lambda m, x, y, **kw: attacks.square(m, x, y, eps=0.1, queries=20, **kw),
    ]


@pytest.mark.parametrize("run", numpy_attacks(), ids=["fgsm", "pgd", "apgd", "square"])
def test_seed_takes_none_an_int_or_a_generator_and_repeats(setting, run):
    model, x, y = setting
    seeded = "fgsm" not in run.__code__.co_names  # FGSM draws nothing
    kwargs = {} if not seeded else {"seed": 3}
    a = run(model, x, y, **kwargs)
    assert isinstance(a, np.ndarray) and a.dtype == np.float32 and a.shape == x.shape
    if seeded:
        np.testing.assert_array_equal(a, run(model, x, y, seed=3))
        g1, g2 = (
            run(model, x, y, seed=np.random.default_rng(5)),
            run(model, x, y, seed=np.random.default_rng(5)),
        )
        np.testing.assert_array_equal(g1, g2)  # a Generator is a seed too
        run(model, x, y, seed=None)
        with pytest.raises(ValueError, match="seed must be"):
            run(model, x, y, seed="3")
        with pytest.raises(ValueError, match="seed must be"):
            run(model, x, y, seed=-1)


@pytest.mark.parametrize("run", numpy_attacks(), ids=["fgsm", "pgd", "apgd", "square"])
def test_labels_are_refused_the_same_way_everywhere(setting, run):
    """One checker (course_utils.labels.class_ids) for attacks and evaluation: one-hot labels, a
    wrong length and an unknown class each get the same error, wherever they are passed."""
    model, x, y = setting
    cases = [(np.eye(5)[y], "one-hot"), (y[:-1], "one label per image"), (y + 5, r"y must lie in 0\.\.4")]
    for bad, message in cases:
        with pytest.raises(ValueError, match=message):
            run(model, x, bad)
        with pytest.raises(ValueError, match=message):
            evaluation.accuracy(model, x, bad)
        with pytest.raises(ValueError, match=message):
            labels.class_ids(bad, n=len(x), num_classes=5)


def test_y_means_the_true_labels_and_target_the_class_to_reach(setting):
    """Untargeted attacks move away from y; targeted ones move towards ``target`` whatever y is."""
    model, x, y = setting
    far = attacks.pgd(model, x, y, eps=1.0, step_size=0.1, num_steps=30, seed=0)
    assert (np.asarray(model(far)).argmax(1) != y).all()
    goal = (y + 2) % 5
    near = attacks.pgd(model, x, y, eps=1.0, step_size=0.1, num_steps=30, seed=0, target=goal)
    np.testing.assert_array_equal(np.asarray(model(near)).argmax(1), goal)
    same = attacks.pgd(model, x, None, eps=1.0, step_size=0.1, num_steps=30, seed=0, target=goal)
    np.testing.assert_array_equal(same, near)
    with pytest.raises(ValueError, match="ranked"):
        attacks.apgd(model, x, y, eps=0.1, target=goal)


def test_square_with_queries_returns_the_images_of_square_and_the_counts(setting):
    model, x, y = setting
    images = attacks.square(model, x, y, eps=0.1, queries=30, seed=2)
    same, used = attacks.square_with_queries(model, x, y, eps=0.1, queries=30, seed=2)
    np.testing.assert_array_equal(images, same)
    assert used.dtype == np.int64 and used.shape == (len(x),) and used.min() >= 1 and used.max() <= 30
