import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from course_utils import plotting
from course_utils.data import CLASS_NAMES

RNG = np.random.default_rng(0)
IMAGES = RNG.random((5, 28, 28, 1), dtype=np.float32)


@pytest.fixture(autouse=True)
def no_show(monkeypatch):
    def fail(*a, **k):
        raise AssertionError("plotting helpers must not call plt.show()")

    monkeypatch.setattr(plt, "show", fail)
    yield
    plt.close("all")


def test_image_grid():
    fig = plotting.image_grid(
        IMAGES, [0, 1, 2, 3, 4], class_names=CLASS_NAMES, predictions=[0, 1, 2, 3, 0], ncols=3
    )
    assert isinstance(fig, Figure)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[:2] == ["T-shirt/top", "Trouser"] and titles[4] == "T-shirt/top\n(Coat)"
    assert len(fig.axes) == 6


def test_history_confusion_predictions_boundary():
    history = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.5, 0.8]}
    assert isinstance(plotting.plot_history(history), Figure)
    with pytest.raises(ValueError, match="has"):
        plotting.plot_history(history, metrics=("auc",))
    assert isinstance(plotting.plot_confusion_matrix(np.eye(10) * 5, CLASS_NAMES), Figure)
    probs = RNG.dirichlet(np.ones(10), size=5)
    assert isinstance(
        plotting.plot_predictions(IMAGES, probs, [0, 1, 2, 3, 4], class_names=CLASS_NAMES), Figure
    )
    pts = RNG.normal(size=(20, 2))
    fig = plotting.plot_decision_boundary(
        lambda g: (g[:, 0] > 0).astype(float), pts, (pts[:, 0] > 0).astype(int)
    )
    assert isinstance(fig, Figure)
    fig, ax = plt.subplots()
    assert plotting.plot_confusion_matrix(np.eye(3), ax=ax) is fig


def test_plot_adversarial_examples_titles_predictions():
    probs = np.eye(10, dtype=np.float32)[[0, 1, 2, 3, 4]]
    probs_adv = np.eye(10, dtype=np.float32)[[0, 5, 2, 3, 4]]
    fig = plotting.plot_adversarial_examples(
        IMAGES, np.clip(IMAGES + 0.05, 0, 1), probs, probs_adv, [0, 1, 2, 3, 4], class_names=CLASS_NAMES
    )
    assert isinstance(fig, Figure) and len(fig.axes) == 15
    assert fig.axes[11].get_title() == "Sandal\n100%"  # adversarial row (the third), second image


def test_plot_accuracy_vs_eps_accepts_dicts_and_cards():
    class Card:
        def curves(self):
            return {"FGSM": ([0, 0.1], [0.9, 0.5]), "PGD": ([0, 0.1], [0.9, 0.1])}

        def worst_case_curve(self):
            return [0, 0.1], [0.9, 0.1]

    assert len(plotting.plot_accuracy_vs_eps(Card()).axes[0].lines) == 2
    fig = plotting.plot_accuracy_vs_eps({"natural": Card(), "other": ([0, 0.1], [0.8, 0.7])})
    ys = [list(line.get_ydata()) for line in fig.axes[0].lines]
    assert ys == [[90.0, 10.0], [80.0, 70.0]]


def test_plot_accuracy_vs_eps_legend_outside_widens_the_figure():
    narrow = plotting.plot_accuracy_vs_eps({"a": ([0, 0.1], [0.9, 0.1])})
    wide = plotting.plot_accuracy_vs_eps({"a": ([0, 0.1], [0.9, 0.1])}, legend_loc="outside")
    assert wide.get_figwidth() > narrow.get_figwidth()


def test_compare_histories_draws_one_line_per_model_that_has_the_metric():
    histories = {
        "natural": {"loss": [1.0, 0.5], "val_accuracy": [0.8, 0.9]},
        "PGD-AT": {"adv_loss": [2.0, 1.5, 1.2], "val_accuracy": [0.6, 0.7, 0.75]},
    }
    fig = plotting.compare_histories(
        histories,
        {"validation accuracy": "val_accuracy", "training loss": {"natural": "loss", "PGD-AT": "adv_loss"}},
    )
    acc_ax, loss_ax = fig.axes
    assert [line.get_label() for line in acc_ax.get_lines()] == ["natural", "PGD-AT"]
    np.testing.assert_array_equal(loss_ax.get_lines()[1].get_ydata(), [2.0, 1.5, 1.2])
    np.testing.assert_array_equal(loss_ax.get_lines()[1].get_xdata(), [1, 2, 3])
    with pytest.raises(ValueError, match="No model has"):
        plotting.compare_histories(histories, {"x": "adv_accuracy_typo"})
    # a model keeps its colour in a panel where an earlier model is missing
    fig = plotting.compare_histories(
        histories, {"all": "val_accuracy", "PGD-AT only": {"PGD-AT": "adv_loss"}}
    )
    all_ax, one_ax = fig.axes
    assert one_ax.get_lines()[0].get_color() == all_ax.get_lines()[1].get_color()
    plt.close("all")


def test_plot_gan_evolution_keeps_first_and_last_epoch():
    samples = np.random.default_rng(0).uniform(0, 1, (21, 12, 28, 28, 1))
    fig = plotting.plot_gan_evolution(samples, fids=list(range(20)), max_rows=5, max_cols=4)
    assert len(fig.axes) == 5 * 4
    labels = [fig.axes[r * 4].get_ylabel() for r in range(5)]
    assert labels[0] == "epoch 0" and labels[-1].startswith("epoch 20") and "FD 19.0" in labels[-1]
    with pytest.raises(ValueError, match="epochs \\+ 1"):
        plotting.plot_gan_evolution(samples[0])
    plt.close("all")


def test_plot_gan_history_and_class_frequencies():
    history = {"d_loss": [1.3, 1.2], "g_loss": [0.8, 0.9], "d_real": [0.6, 0.55], "d_fake": [0.4, 0.45]}
    assert len(plotting.plot_gan_history(history).axes) == 2
    fig = plotting.plot_gan_history({**history, "fid": [50.0, 20.0]}, floor=1.0, ceiling=100.0)
    assert len(fig.axes) == 3 and len(fig.axes[2].get_lines()) == 3
    with pytest.raises(ValueError, match="lacks"):
        plotting.plot_gan_history({"d_loss": [1.0]})
    fig = plotting.plot_class_frequencies({"real": [0, 1, 1, 2], "generated": [1, 1, 1, 1]}, num_classes=3)
    heights = [p.get_height() for p in fig.axes[0].patches]
    np.testing.assert_allclose(heights, [25, 50, 25, 0, 100, 0])
    plt.close("all")
