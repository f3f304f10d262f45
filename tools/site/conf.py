"""Sphinx configuration of the course site (``tools/build_site.py`` copies it into the site's sources).

Everything the pages need is served from the site itself: MathJax from ``_static/mathjax`` (copied
from ``jupyter-server-mathjax``), the theme's fonts and icons from its own static files, the search
index from ``searchindex.js``; no page asks the network for anything.
"""

project = "Adversarial examples, robustness and GANs"
author = "the course's authors"
copyright = "the course's authors; Fashion-MNIST © Zalando SE (MIT licence)"  # noqa: A001 - Sphinx's name

extensions = ["myst_nb"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
master_doc = "index"

# Notebooks arrive executed (`make course`); Sphinx never runs them.
nb_execution_mode = "off"
nb_ipywidgets_js = {}  # no widget JavaScript from a CDN: notebook 06's slider shows its static figure
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header"]

# MathJax 2, local.
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
# jupyter-server-mathjax ships the STIX-Web fonts only: tell MathJax, before it loads.
mathjax2_config = {
    "tex2jax": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]]},
    "HTML-CSS": {"availableFonts": [], "preferredFont": None, "webFont": "STIX-Web", "imageFont": None},
    "SVG": {"font": "STIX-Web"},
}

html_theme = "sphinx_book_theme"
html_title = "Adversarial examples, robustness and GANs"
html_static_path = ["_static"]
html_theme_options = {
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "show_toc_level": 2,
    "navigation_with_keys": True,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "search_bar_text": "Search the course...",
}
html_last_updated_fmt = None
html_show_sourcelink = False
html_copy_source = False
