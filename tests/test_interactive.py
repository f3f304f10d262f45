"""The FGSM explorer: precomputed positions, a static figure for every position, a widget."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from course_utils import attacks, interactive

from .helpers import linear_model


def test_explorer_precomputes_fgsm_for_every_position():
    model, _, _ = linear_model((28, 28, 1), 10, std=0.05, bias=False)
    image = np.random.default_rng(1).uniform(0, 1, (28, 28, 1)).astype("float32")
    label = int(np.asarray(model(image[None])).argmax())  # correctly classified at eps = 0
    explorer = interactive.fgsm_explorer(
        model, image, label, [str(i) for i in range(10)], np.linspace(0, 0.2, 5)
    )
    assert explorer.adversarial.shape == (5, 28, 28, 1) and explorer.probs.shape == (5, 10)
    np.testing.assert_array_equal(explorer.adversarial[0], image)
    np.testing.assert_allclose(
        explorer.adversarial[3], attacks.fgsm(model, image[None], np.array([label]), eps=0.15)[0], atol=1e-6
    )
    assert explorer.index(0.16) == 3
    # the first grid point where FGSM flips the prediction, found independently of the explorer
    x, y = image[None], np.array([label])
    flipped = [
        float(e)
        for e in np.linspace(0, 0.2, 5)
        if np.asarray(model(attacks.fgsm(model, x, y, eps=float(e)))).argmax() != label
    ]
    assert explorer.first_wrong_eps() == (flipped[0] if flipped else None)
    fig = explorer.figure(0.1)
    assert "ε = 0.100" in fig.axes[0].get_title()
    plt.close("all")
    assert type(explorer.widget()).__name__ == "VBox"
    plt.close("all")


def test_explorer_rejects_a_bad_eps_grid():
    model, _, _ = linear_model((28, 28, 1), 10, std=0.05, bias=False)
    with pytest.raises(ValueError, match="start at 0"):
        interactive.fgsm_explorer(model, np.zeros((28, 28, 1)), 0, list("abcdefghij"), [0.1, 0.2])
