"""Figures for the notebooks. Every helper returns its ``matplotlib`` figure, never calls
``plt.show()`` and never writes a file: the notebook displays it, or you call ``fig.savefig``."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator


def _new_axes(ax, figsize):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def image_grid(
    images,
    labels=None,
    *,
    class_names=None,
    predictions=None,
    ncols: int = 8,
    titles=None,
    cmap: str = "gray",
    vmin: float | None = 0.0,
    vmax: float | None = 1.0,
    size: float = 1.4,
    suptitle: str | None = None,
):
    """Images in a grid, titled with their class (and prediction, red when wrong).

    Args:
        images: ``(N, H, W)`` or ``(N, H, W, 1)`` array in [vmin, vmax].
        labels: optional ``(N,)`` true class ids.
        class_names: names for the class ids (default: the ids).
        predictions: optional ``(N,)`` predicted class ids, shown as "pred (true)".
        ncols: images per row.
        titles: optional list of ``N`` strings that replaces the automatic titles.
        cmap, vmin, vmax: colour map and range (``vmin=vmax=None`` scales each image, useful
            for perturbations).
        size: inches per image.
        suptitle: title of the whole figure.

    Returns:
        The ``matplotlib.figure.Figure``.
    """
    images = np.asarray(images)
    if images.ndim == 4:
        images = images[..., 0]
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * nrows + 0.3 * bool(suptitle)), squeeze=False
    )

    def name(c):
        return class_names[int(c)] if class_names is not None else str(int(c))

    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i], cmap=cmap, vmin=vmin, vmax=vmax)
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
        elif predictions is not None:
            right = labels is None or predictions[i] == labels[i]
            text = name(predictions[i]) if right else f"{name(predictions[i])}\n({name(labels[i])})"
            ax.set_title(text, fontsize=8, color="black" if right else "crimson")
        elif labels is not None:
            ax.set_title(name(labels[i]), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_history(history, metrics=("loss", "accuracy"), *, title: str | None = None):
    """Learning curves: one panel per metric, training and validation (``val_*``) per epoch.

    Args:
        history: a ``keras.callbacks.History`` or its ``.history`` dict.
        metrics: metric names to plot (missing ones are skipped).

    Returns:
        The figure.
    """
    hist = getattr(history, "history", history)
    metrics = [m for m in metrics if m in hist]
    if not metrics:
        raise ValueError(f"None of the metrics to plot are in the history; it has {sorted(hist)}.")
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.2), squeeze=False)
    for ax, metric in zip(axes.flat, metrics, strict=True):
        epochs = np.arange(1, len(hist[metric]) + 1)
        ax.plot(epochs, hist[metric], "o-", label="training")
        if f"val_{metric}" in hist:
            ax.plot(epochs, hist[f"val_{metric}"], "s--", label="validation")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def compare_histories(histories: dict, panels: dict, *, title: str | None = None):
    """Learning curves of several models side by side: one panel per quantity, one line per model.

    Args:
        histories: ``{model label: History or its .history dict}``.
        panels: ``{panel title: metric name or {model label: metric name}}``: the metric to draw in
            that panel, the same for every model or chosen per model (models without it are skipped).

    Returns:
        The figure.

    Example: ``compare_histories({"natural": h1, "PGD-AT": h2}, {"clean validation accuracy":
    "val_accuracy", "training loss": {"natural": "loss", "PGD-AT": "adv_loss"}})``.
    """
    hists = {label: getattr(h, "history", h) for label, h in histories.items()}
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.3), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    # one style per model, kept across panels even where a model is skipped
    styles = {
        label: (colors[i % len(colors)], "osD^v<>ph*"[i % 10], ["-", "--", "-.", ":"][i % 4])
        for i, label in enumerate(hists)
    }
    for ax, (panel, metric) in zip(axes.flat, panels.items(), strict=True):
        drawn = 0
        for label, hist in hists.items():
            name = metric.get(label) if isinstance(metric, dict) else metric
            if name is None or name not in hist:
                continue
            values = hist[name]
            color, marker, line = styles[label]
            ax.plot(
                np.arange(1, len(values) + 1), values, color=color, marker=marker, linestyle=line, label=label
            )
            drawn += 1
        if not drawn:
            raise ValueError(f"No model has the metric(s) {metric!r} of panel {panel!r}.")
        ax.set_title(panel, fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_gan_evolution(samples, fids=None, *, max_rows: int = 8, max_cols: int = 10, size: float = 1.0):
    """The same noise vectors drawn after successive epochs: one row per epoch.

    Args:
        samples: ``(E + 1, n, 28, 28, 1)`` images in [0, 1], row 0 before training (as recorded by
            :class:`course_utils.gan.FixedNoiseSamples`).
        fids: optional ``E`` Fréchet distances (after epochs 1..E), written next to the rows.
        max_rows: at most this many epochs, evenly spaced, always the first and the last.
        max_cols: at most this many samples per row.

    Returns:
        The figure.
    """
    samples = np.asarray(samples)
    if samples.ndim != 5:
        raise ValueError(f"samples must have shape (epochs + 1, n, H, W, 1), got {samples.shape}.")
    rows = np.unique(np.linspace(0, len(samples) - 1, min(max_rows, len(samples))).round().astype(int))
    cols = min(max_cols, samples.shape[1])
    fig, axes = plt.subplots(len(rows), cols, figsize=(size * cols + 1.2, size * len(rows)), squeeze=False)
    for r, epoch in enumerate(rows):
        for c in range(cols):
            ax = axes[r, c]
            ax.imshow(samples[epoch, c, ..., 0], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        label = f"epoch {epoch}"
        if fids is not None and epoch > 0:
            label += f"\nFD {fids[epoch - 1]:.1f}"
        axes[r, 0].set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
    fig.suptitle("the same noise vectors, epoch after epoch", fontsize=10)
    fig.tight_layout()
    return fig


def plot_gan_history(history, *, floor: float | None = None, ceiling: float | None = None):
    """A GAN's training dynamics per epoch: the two losses, the discriminator's mean outputs, and
    (when recorded) the Fréchet distance.

    Args:
        history: dict (or History) with ``d_loss``, ``g_loss``, ``d_real``, ``d_fake`` and optionally
            ``fid``, as recorded by :func:`course_utils.gan.train`.
        floor, ceiling: reference distances drawn as horizontal lines in the last panel.

    Returns:
        The figure. Dotted lines mark the values at the game's equilibrium (D = 1/2 everywhere):
        2 ln 2 for the discriminator's loss, ln 2 for the generator's, 0.5 for both outputs.
    """
    hist = getattr(history, "history", history)
    missing = {"d_loss", "g_loss", "d_real", "d_fake"} - set(hist)
    if missing:
        raise ValueError(f"The history lacks {sorted(missing)}; it has {sorted(hist)}.")
    panels = 3 if "fid" in hist else 2
    fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 3.3))
    epochs = np.arange(1, len(hist["d_loss"]) + 1)
    ax = axes[0]
    ax.plot(epochs, hist["d_loss"], "o-", label="discriminator")
    ax.plot(epochs, hist["g_loss"], "s--", label="generator (non-saturating)")
    ax.axhline(2 * math.log(2), color="C0", ls=":", lw=1)
    ax.axhline(math.log(2), color="C1", ls=":", lw=1)
    ax.set_title("losses (dotted: equilibrium)", fontsize=10)
    ax = axes[1]
    ax.plot(epochs, hist["d_real"], "o-", color="C2", label="D(real image)")
    ax.plot(epochs, hist["d_fake"], "s--", color="C3", label="D(generated image)")
    ax.axhline(0.5, color="grey", ls=":", lw=1)
    ax.set_ylim(0, 1)
    ax.set_title("discriminator's mean probability 'real'", fontsize=10)
    if panels == 3:
        ax = axes[2]
        ax.plot(epochs, hist["fid"], "o-", color="C4", label="generated vs real")
        if ceiling is not None:
            ax.axhline(ceiling, color="grey", ls="--", lw=1, label="ceiling: uniform noise")
        if floor is not None:
            ax.axhline(floor, color="black", ls=":", lw=1, label="floor: real vs real")
        ax.set_yscale("log")
        ax.set_title("Fréchet distance (log scale)", fontsize=10)
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_class_frequencies(predictions: dict, class_names=None, *, num_classes: int = 10, ax=None):
    """Side-by-side bars: how often each class is predicted, for several sets of images.

    Args:
        predictions: ``{label: (N,) predicted class ids}``.
        class_names: names for the x axis.

    Returns:
        The figure.
    """
    fig, ax = _new_axes(ax, (9, 3.2))
    width = 0.8 / max(1, len(predictions))
    for i, (label, predicted) in enumerate(predictions.items()):
        counts = np.bincount(np.asarray(predicted, dtype=np.int64).ravel(), minlength=num_classes)
        ax.bar(np.arange(num_classes) + (i - (len(predictions) - 1) / 2) * width, 100 * counts / counts.sum(),
               width=width, label=label)  # fmt: skip
    ax.axhline(100 / num_classes, color="grey", ls=":", lw=1)
    ax.set_xticks(np.arange(num_classes))
    ax.set_xticklabels(class_names or range(num_classes), rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("share of images (%)")
    ax.set_title("which class does the classifier see? (dotted: uniform)", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def plot_confusion_matrix(
    matrix, class_names=None, *, normalize: bool = True, ax=None, title: str | None = "Confusion matrix"
):
    """Heat map of a confusion matrix (rows: true class, columns: predicted class).

    Args:
        matrix: ``(K, K)`` counts, e.g. from :func:`course_utils.evaluation.confusion_matrix`.
        class_names: ``K`` names for the axes.
        normalize: show each row as fractions of that class (the diagonal is per-class recall).
        ax: axes to draw into (a new figure if ``None``).

    Returns:
        The figure.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    k = matrix.shape[0]
    shown = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1) if normalize else matrix
    fig, ax = _new_axes(ax, (7, 6))
    im = ax.imshow(shown, cmap="Blues", vmin=0)
    names = class_names if class_names is not None else [str(i) for i in range(k)]
    ax.set_xticks(range(k), names, rotation=45, ha="right")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    threshold = shown.max() / 2
    for i in range(k):
        for j in range(k):
            text = f"{shown[i, j]:.2f}" if normalize else f"{int(matrix[i, j])}"
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=7,
                color="white" if shown[i, j] > threshold else "black",
            )
    fig.colorbar(im, ax=ax, fraction=0.046)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_predictions(images, probs, labels=None, *, class_names=None, max_images: int = 6):
    """Each image beside a bar chart of the model's class probabilities (true class in green,
    a wrong prediction in red): the classifier's decision made visible.

    Args:
        images: ``(N, H, W[, 1])`` in [0, 1]; probs: ``(N, K)`` probabilities; labels: ``(N,)``.

    Returns:
        The figure.
    """
    images, probs = np.asarray(images), np.asarray(probs)
    n = min(len(images), max_images)
    k = probs.shape[1]
    names = class_names if class_names is not None else [str(i) for i in range(k)]
    fig, axes = plt.subplots(n, 2, figsize=(7, 1.6 * n), squeeze=False, gridspec_kw={"width_ratios": [1, 3]})
    for i in range(n):
        img = images[i][..., 0] if images[i].ndim == 3 else images[i]
        axes[i, 0].imshow(img, cmap="gray", vmin=0, vmax=1)
        axes[i, 0].axis("off")
        colors = ["tab:gray"] * k
        pred = int(probs[i].argmax())
        if labels is not None and pred != int(labels[i]):
            colors[pred] = "crimson"
        if labels is not None:
            colors[int(labels[i])] = "tab:green"
        axes[i, 1].barh(range(k), probs[i], color=colors)
        axes[i, 1].set_xlim(0, 1)
        axes[i, 1].set_yticks(range(k), names, fontsize=7)
        axes[i, 1].invert_yaxis()
    axes[-1, 1].set_xlabel("probability")
    fig.tight_layout()
    return fig


def plot_decision_boundary(
    predict_fn, points, labels, *, ax=None, resolution: int = 200, title: str | None = None
):
    """Decision regions of a 2-D binary classifier, with the data on top.

    Args:
        predict_fn: maps ``(M, 2)`` float32 points to ``(M,)`` probabilities of class 1.
        points: ``(N, 2)`` inputs; labels: ``(N,)`` 0/1 labels.
        resolution: grid points per axis.

    Returns:
        The figure.
    """
    points, labels = np.asarray(points), np.asarray(labels)
    fig, ax = _new_axes(ax, (4.5, 4))
    pad = 0.5
    (x0, y0), (x1, y1) = points.min(axis=0) - pad, points.max(axis=0) + pad
    gx, gy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
    p = np.asarray(predict_fn(grid)).reshape(gx.shape)
    ax.contourf(gx, gy, p, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.6)
    ax.contour(gx, gy, p, levels=[0.5], colors="k", linewidths=1.5)
    ax.scatter(*points[labels == 0].T, c="tab:blue", edgecolor="k", s=20, label="class 0")
    ax.scatter(*points[labels == 1].T, c="tab:red", edgecolor="k", s=20, label="class 1")
    ax.legend(loc="best", fontsize=8)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_adversarial_examples(
    x,
    x_adv,
    probs_clean,
    probs_adv,
    labels,
    *,
    class_names=None,
    max_images: int = 6,
    title: str | None = None,
):
    """Three rows: the original images, the perturbations (magnified, red = brighter, blue = darker)
    and the adversarial images, each titled with the prediction and its confidence (red if wrong).

    Args:
        x, x_adv: ``(N, H, W[, 1])`` images in [0, 1].
        probs_clean, probs_adv: ``(N, K)`` class probabilities on ``x`` and ``x_adv``.
        labels: ``(N,)`` true class ids.

    Returns:
        The figure.
    """
    x, x_adv = np.asarray(x), np.asarray(x_adv)
    probs_clean, probs_adv, labels = np.asarray(probs_clean), np.asarray(probs_adv), np.asarray(labels)
    n = min(len(x), max_images)
    names = class_names if class_names is not None else [str(i) for i in range(probs_clean.shape[1])]
    delta = (x_adv[:n] - x[:n]).reshape(n, *x.shape[1:3])
    bound = max(float(np.abs(delta).max()), 1e-12)
    fig, axes = plt.subplots(3, n, figsize=(1.75 * n, 5.9), squeeze=False)
    for i in range(n):
        for row, (img, probs) in enumerate(((x[i], probs_clean[i]), (x_adv[i], probs_adv[i]))):
            ax = axes[2 * row, i]
            ax.imshow(img.reshape(x.shape[1:3]), cmap="gray", vmin=0, vmax=1)
            pred = int(probs.argmax())
            ax.set_title(
                f"{names[pred]}\n{probs[pred]:.0%}",
                fontsize=8,
                color="black" if pred == labels[i] else "crimson",
            )
            ax.axis("off")
        axes[1, i].imshow(delta[i], cmap="RdBu_r", vmin=-bound, vmax=bound)
        axes[1, i].axis("off")
    axes[0, 0].text(
        -0.15, 0.5, "original", transform=axes[0, 0].transAxes, rotation=90, va="center", ha="right"
    )
    axes[1, 0].text(
        -0.15,
        0.5,
        f"perturbation\n(±{bound:.3g})",
        transform=axes[1, 0].transAxes,
        rotation=90,
        va="center",
        ha="right",
    )
    axes[2, 0].text(
        -0.15, 0.5, "adversarial", transform=axes[2, 0].transAxes, rotation=90, va="center", ha="right"
    )
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_accuracy_vs_eps(
    curves,
    *,
    ax=None,
    title: str | None = "Accuracy under attack",
    xlabel: str = "ε",
    legend_loc: str = "best",
):
    """Accuracy-versus-ε curves.

    Args:
        curves: a report card (anything with a ``curves()`` method: every attack on it is drawn),
            or a dict ``{label: (eps values, accuracies)}``, or ``{label: report card}`` (each card's
            worst-case curve, the last row at each ε, is drawn, to compare models).
        ax: axes to draw into (a new figure if ``None``).
        legend_loc: where the legend goes: a matplotlib location such as ``"center right"``, or
            ``"outside"`` (right of the plot; the figure is widened).

    Returns:
        The figure. Curves get different markers and line styles, so identical curves stay visible.
    """
    if hasattr(curves, "curves"):
        lines = curves.curves()
    else:
        lines = {}
        for label, value in curves.items():
            if hasattr(value, "worst_case_curve"):
                lines[label] = value.worst_case_curve()
            else:
                lines[label] = value
    fig, ax = _new_axes(ax, (5.5, 3.8))
    styles = zip("osD^v<>ph*", ["-", "--", "-.", ":"] * 3, strict=False)
    for (label, (eps, acc)), (marker, line) in zip(lines.items(), styles, strict=False):
        ax.plot(eps, 100 * np.asarray(acc, dtype=float), marker=marker, linestyle=line, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    if legend_loc == "outside":  # to the right of the axes, never over a curve
        fig.set_figwidth(fig.get_figwidth() + 3.0)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    else:
        ax.legend(fontsize=8, loc=legend_loc)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
