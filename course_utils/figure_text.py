"""Text alternatives for the course's figures: what a screen reader says instead of "image".

:func:`describe` reads a ``matplotlib`` figure's own words (its title, the panels' titles, axis
labels and legend entries) and makes one sentence of them. :func:`register_alt_text` makes IPython
attach that sentence to every figure a notebook displays (as the PNG output's ``alt`` metadata), which
the course's HTML pages and slides then use as the image's ``alt`` attribute. ``tools/run_course.py``
calls it in each kernel before running a notebook; nothing happens on import.
"""

from __future__ import annotations

MAX_CHARS = 400  # a text alternative is a summary, not a transcript


def _clean(text: str) -> str:
    return " ".join(str(text).replace("$", "").split())


def describe(fig, *, max_chars: int = MAX_CHARS) -> str:
    """One sentence describing the matplotlib figure ``fig`` from its text.

    Panels that carry only a title (an image grid) are summarised as "N images titled: a, b, ...";
    panels with axes say what is plotted against what, and name their legend entries.

    Returns:
        For example ``"Figure: worst-case accuracy under attack. Plot of accuracy (%) against ε:
        natural, PGD-AT."``; at most ``max_chars`` characters (cut with "…").
    """
    parts = []
    suptitle = getattr(fig, "_suptitle", None)
    heading = _clean(suptitle.get_text()) if suptitle is not None else ""
    plots, image_titles, images = [], [], 0
    for ax in fig.get_axes():
        if not ax.get_visible():
            continue
        titles = (ax.get_title("left"), ax.get_title(), ax.get_title("right"))
        title = _clean(" ".join(t for t in titles if t))
        xlabel, ylabel = _clean(ax.get_xlabel()), _clean(ax.get_ylabel())
        labels = [_clean(label) for label in ax.get_legend_handles_labels()[1] if not label.startswith("_")]
        if ax.images and not (xlabel or ylabel or labels):
            images += 1
            if title:
                image_titles.append(title)
            continue
        what = "Plot"
        if ylabel and xlabel:
            what += f" of {ylabel} against {xlabel}"
        elif ylabel or xlabel:
            what += f" of {ylabel or xlabel}"
        if title:
            what = f"{title}: {what[0].lower()}{what[1:]}"
        if labels:
            what += ": " + ", ".join(dict.fromkeys(labels))
        plots.append(what)
    parts.append(f"Figure: {heading}." if heading else "Figure.")
    if images:
        grid = f"{images} image{'s' if images > 1 else ''}"
        if image_titles:
            grid += " titled: " + ", ".join(image_titles)
        parts.append(grid + ".")
    parts += [p + "." for p in plots]
    text = " ".join(parts)
    return text if len(text) <= max_chars else text[: max_chars - 1].rstrip() + "…"


def register_alt_text(shell=None) -> bool:
    """Make IPython's PNG output of every matplotlib figure carry ``{"alt": describe(fig)}`` metadata.

    Call it in a running IPython kernel after the inline backend is set up (this imports pyplot,
    which sets it up); ``shell`` defaults to the running one. Returns ``False`` outside IPython.
    """
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
    if shell is None:
        return False
    import matplotlib.pyplot as plt
    from IPython.core.pylabtools import print_figure

    # pyplot loads its backend at the first figure; the inline backend then registers its own PNG
    # formatter, which would replace this one: load it now.
    plt.close(plt.figure())
    from matplotlib.figure import Figure

    def png_with_alt(fig):
        data = print_figure(fig, "png", base64=True, bbox_inches="tight")
        return (data, {"alt": describe(fig)}) if data else None

    shell.display_formatter.formatters["image/png"].for_type(Figure, png_with_alt)
    return True
