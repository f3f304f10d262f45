"""Interactive explorers for the notebooks (ipywidgets), usable without widgets too.

:func:`fgsm_explorer` shows one image under FGSM with a slider for ε: the image, the perturbation and
the model's class probabilities. The attacks are computed when the explorer is created, for every
slider position, so moving the slider only redraws. Where widgets cannot render (a headless run, an
HTML page, nbval), :meth:`FGSMExplorer.figure` draws any position as a static figure.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from course_utils import attacks, evaluation


class FGSMExplorer:
    """Precomputed FGSM on one image for a grid of ε values.

    Args:
        model: a classifier returning logits.
        image: ``(28, 28, 1)`` or ``(1, 28, 28, 1)`` in ``[0, 1]``.
        label: its true class.
        class_names: names of the classes.
        eps_values: the slider's positions (L∞ budgets in the pixel scale), increasing, from 0.
    """

    def __init__(self, model, image, label, class_names, eps_values=None):
        image = np.asarray(image, dtype="float32").reshape(1, 28, 28, 1)
        self.eps_values = np.round(
            np.linspace(0.0, 0.3, 31) if eps_values is None else np.asarray(eps_values), 4
        )
        if self.eps_values[0] != 0 or np.any(np.diff(self.eps_values) <= 0):
            raise ValueError("eps_values must start at 0 and increase, e.g. np.linspace(0, 0.3, 31).")
        self.image, self.label, self.class_names = image, int(label), list(class_names)
        label_array = np.array([self.label])
        self.adversarial = np.concatenate(
            [
                attacks.fgsm(model, image, label_array, eps=float(e)) if e > 0 else image
                for e in self.eps_values
            ]
        )
        self.probs = evaluation.softmax(evaluation.predict_logits(model, self.adversarial))

    def index(self, eps: float) -> int:
        """The slider position closest to ``eps``."""
        return int(np.argmin(np.abs(self.eps_values - eps)))

    def figure(self, eps: float):
        """Image, perturbation (magnified) and class probabilities at the position closest to ``eps``."""
        k = self.index(eps)
        adv, probs = self.adversarial[k, ..., 0], self.probs[k]
        delta = adv - self.image[0, ..., 0]
        predicted = int(probs.argmax())
        fig, axes = plt.subplots(1, 3, figsize=(10, 3.1), gridspec_kw={"width_ratios": [1, 1, 1.6]})
        axes[0].imshow(adv, cmap="gray", vmin=0, vmax=1)
        color = "black" if predicted == self.label else "red"
        axes[0].set_title(f"ε = {self.eps_values[k]:.3f}: {self.class_names[predicted]} {probs.max():.0%}",
                          color=color, fontsize=10)  # fmt: skip
        bound = max(float(np.abs(delta).max()), 1e-12)
        axes[1].imshow(delta, cmap="RdBu_r", vmin=-bound, vmax=bound)
        axes[1].set_title(f"perturbation (±{bound:.3f}, magnified)", fontsize=10)
        for ax in axes[:2]:
            ax.set_xticks([])
            ax.set_yticks([])
        colors = ["C2" if c == self.label else ("C3" if c == predicted else "C0") for c in range(len(probs))]
        axes[2].barh(range(len(probs)), probs, color=colors)
        axes[2].set_yticks(range(len(probs)))
        axes[2].set_yticklabels(self.class_names, fontsize=8)
        axes[2].invert_yaxis()
        axes[2].set_xlim(0, 1)
        axes[2].set_title("class probabilities (green: true class)", fontsize=10)
        fig.tight_layout()
        return fig

    def first_wrong_eps(self) -> float | None:
        """The smallest ε on the grid at which the prediction is wrong (``None`` if never)."""
        wrong = np.flatnonzero(self.probs.argmax(1) != self.label)
        return float(self.eps_values[wrong[0]]) if len(wrong) else None

    def widget(self):
        """An ipywidgets slider bound to :meth:`figure` (needs a live Jupyter kernel to move)."""
        import ipywidgets
        from IPython.display import display

        slider = ipywidgets.SelectionSlider(
            options=[(f"{e:.3f}", float(e)) for e in self.eps_values],
            value=float(self.eps_values[0]),
            description="ε",
        )
        output = ipywidgets.Output()

        def draw(change=None):
            with output:
                output.clear_output(wait=True)
                fig = self.figure(slider.value)
                display(fig)
                plt.close(fig)

        slider.observe(draw, names="value")
        draw()
        return ipywidgets.VBox([slider, output])


def fgsm_explorer(model, image, label, class_names, eps_values=None) -> FGSMExplorer:
    """Build an :class:`FGSMExplorer`; display ``explorer.widget()`` in Jupyter to use the slider."""
    return FGSMExplorer(model, image, label, class_names, eps_values)
