"""Helpers shared by several test modules, grouped by topic below. Test modules import from here, never
from one another.

Images are NumPy float32 arrays of shape (N, H, W, C) in [0, 1] unless said otherwise; labels are int
arrays of shape (N,). TensorFlow and Keras are imported inside the functions that need them, so a
module that uses only the data or server helpers does not load them.
"""

import ast
import contextlib
import functools
import gzip
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

# ------------------------------------------------------------------------------------- linear models


def linear_model(shape=(2, 2, 1), classes=3, seed=0, *, scale=1.0, std=1.0, bias=True):
    """A Keras model with logits ``scale * (flatten(x) @ w + b)`` on images of ``shape``.

    ``w`` (prod(shape), classes) ~ N(0, std²) and then ``b`` (classes,) ~ N(0, 1) are float32 draws
    from ``np.random.default_rng(seed)``; without ``bias``, ``b`` is zero and nothing more is drawn.
    ``seed`` may be a ``np.random.Generator``: it is drawn from, so a test can go on drawing its images
    from it. Returns ``(model, w, b)``, with ``w`` and ``b`` unscaled.
    """
    import keras

    rng = np.random.default_rng(seed)
    w = rng.normal(0.0, std, size=(int(np.prod(shape)), classes)).astype(np.float32)
    b = rng.normal(size=classes).astype(np.float32) if bias else np.zeros(classes, np.float32)
    model = keras.Sequential([keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(classes)])
    model.layers[-1].set_weights([w * scale, b * scale])
    return model, w, b


def reachable_linear_model():
    """A Keras model on (N, 2, 2, 1) images with (N, 3) logits 5 × (the first three pixels), no bias:
    every class is reachable inside [0, 1]."""
    import keras

    model = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    model.layers[-1].set_weights([np.eye(4, 3, dtype=np.float32) * 5.0, np.zeros(3, np.float32)])
    return model


def data_for(model, n=60, seed=0):
    """``n`` uniform (n, 2, 2, 1) images from ``default_rng(seed)`` and ``model``'s predictions for them
    as labels: returns ``(x, y)``, every image correctly classified."""
    x = np.random.default_rng(seed).uniform(0, 1, size=(n, 2, 2, 1)).astype(np.float32)
    return x, np.asarray(model(x)).argmax(axis=1)


def worst_case_margin(x, y, w, b, eps, clip_min=0.0, clip_max=1.0):
    """Exact max over the L∞ ball ∩ pixel box of max_{j≠y} z_j − z_y for a linear model (float64).

    ``x`` (N, ...) images, ``y`` (N,) labels, ``w`` (d, K) and ``b`` (K,) as from ``linear_model``;
    returns the (N,) margins (positive: the ball holds a misclassified image). For each class j the
    objective (w_j − w_y)·x' + b_j − b_y is linear, so its maximum over the box
    [max(x − ε, 0), min(x + ε, 1)] puts each pixel at the end its coefficient points to.
    """
    flat = x.reshape(len(x), -1).astype(np.float64)
    lo, hi = np.maximum(flat - eps, clip_min), np.minimum(flat + eps, clip_max)
    out = np.full(len(x), -np.inf)
    for j in range(w.shape[1]):
        coef = w[:, j][None, :] - w[:, y].T  # (N, d)
        best = np.where(coef > 0, hi, lo)
        value = (coef * best).sum(axis=1) + b[j] - b[y]
        out = np.where(j == y, out, np.maximum(out, value))
    return out


def unit_normal():
    """(4, 4, 1) float32 weights of unit length: 0.6 at pixel (1, 2), −0.8 at (3, 0), zero elsewhere, so
    ``w·x + b`` is the signed distance of an image to the hyperplane ``w·x + b = 0``."""
    w = np.zeros((4, 4, 1), np.float32)
    w[1, 2, 0], w[3, 0, 0] = 0.6, -0.8
    return w


def hyperplane_logits(w, b, *, mirrored=False):
    """A plain TensorFlow logits function (no Keras model) of the score ``s = w·x + b`` on images of
    shape (N, *w.shape): (N, 2) logits ``(0, s)``, or (N, 3) logits ``(0, s, −s)`` when ``mirrored``."""
    import tensorflow as tf

    def logits(x):
        score = tf.reduce_sum(tf.convert_to_tensor(x) * w, axis=[1, 2, 3]) + b
        if mirrored:
            return tf.stack([tf.zeros_like(score), score, -score], axis=1)
        return tf.stack([tf.zeros_like(score), score], axis=1)

    return logits


def counting(model):
    """``model`` wrapped so that a variable counts the images it has seen (works inside tf.function).

    Returns ``(wrapped, seen)``: ``wrapped(x)`` is ``model(x)``, ``seen`` a tf.Variable (int64)."""
    import tensorflow as tf

    seen = tf.Variable(0, dtype=tf.int64)

    def wrapped(x):
        seen.assign_add(tf.cast(tf.shape(x)[0], tf.int64))
        return model(x)

    return wrapped, seen


# ------------------------------------------------------------------------------ a small CNN, toy data


def tiny_classifier(seed=0, classes=3):
    """A seeded Keras CNN on (N, 8, 8, 1) images: Conv2D(4, 3, relu), Flatten, Dense(``classes``)
    logits. Untrained; the same ``seed`` gives the same weights."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(classes),
        ]
    )


def tiny_data(n=64, seed=0):
    """``n`` learnable (n, 8, 8, 1) images of 3 classes: noise in [0, 0.3], plus 0.6 on rows 2k, 2k + 1
    for class k, clipped to [0, 1]. Returns ``(x, y)``, the labels drawn at random."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    x = rng.uniform(0, 0.3, size=(n, 8, 8, 1)).astype(np.float32)
    for k in range(3):  # a learnable signal: class k brightens row block k
        x[y == k, 2 * k : 2 * k + 2, :, 0] += 0.6
    return np.clip(x, 0, 1), y


# ----------------------------------------------------- coded images, scripted attacks, Wilson interval

Z_95 = 1.959963984540054  # the standard normal's 97.5 % quantile


def wilson(correct, n, z=Z_95):
    """The 95 % Wilson interval from its definition, in float64: the two proportions pi with
    (p - pi)^2 = z^2 pi (1 - pi) / n, the roots of a quadratic (not the code's closed form).
    Returns ``(low, high)``."""
    p = correct / n
    roots = np.roots([1 + z * z / n, -(2 * p + z * z / n), p * p]).real
    return float(roots.min()), float(roots.max())


# Scripted attacks on "coded" 2x2 images: pixel (0, 0) holds the image's number i as i / 10 (no attack
# touches it), pixel (1, 1) the signal: the model says class 1 exactly when it exceeds 0.5.


def coded_images(n, signal=0.4):
    """``n`` coded (n, 2, 2, 1) images numbered 0 .. n - 1, all with the same signal (class 0 for the
    model); the other pixels are 0.5."""
    x = np.full((n, 2, 2, 1), 0.5, np.float32)
    x[:, 0, 0, 0] = np.arange(n) / 10
    x[:, 1, 1, 0] = signal
    return x


def image_numbers(x):
    """The (N,) numbers of coded images ``x``."""
    return np.rint(np.asarray(x)[:, 0, 0, 0] * 10).astype(int)


def threshold_model(x):
    """Logits (0.5 - s, s - 0.5), shape (N, 2), of the signal s: class 1 exactly when s > 0.5 (NumPy)."""
    s = np.asarray(x, np.float32)[:, 1, 1, 0]
    return np.stack([0.5 - s, s - 0.5], axis=1)


def breaker(victims, signal, seen):
    """An attack ``(xb, yb) -> x_adv`` that sets the signal of the images numbered in ``victims`` to
    ``signal`` (breaking them if it exceeds 0.5) and leaves the others alone; ``seen`` (a list) records
    the numbers it was given."""

    def attack(xb, yb):
        seen.extend(image_numbers(xb).tolist())
        x_adv = np.array(xb, np.float32)
        x_adv[np.isin(image_numbers(xb), sorted(victims)), 1, 1, 0] = signal
        return x_adv

    return attack


# --------------------------------------------------------------------------------------- source code


def dotted_name(node):
    """The dotted name of an ``ast.Name`` or a chain of ``ast.Attribute`` on one, as written in the
    source ("tf.train.Adam"), or None for anything else (a call, a subscript, a literal)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return ".".join([node.id, *reversed(parts)]) if isinstance(node, ast.Name) else None


# ------------------------------------------------------------------------------ files and a web server


def write_idx_dataset(folder, n_train=40, n_test=20, seed=0):
    """Write the four Fashion-MNIST files (real IDX format, gzip) with random content.

    The gzip header's time stamp is fixed (``mtime=0``), so the same seed gives byte-identical
    files whenever they are written; otherwise two folders written across a second boundary
    have different checksums.

    Returns:
        ``(files, arrays)``: ``{filename: sha256}`` and, per split ("train", "t10k"), the uint8
        ``(images (n, 28, 28), labels (n,))`` written.
    """
    from course_utils.data import sha256

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        with gzip.GzipFile(folder / f"{split}-images-idx3-ubyte.gz", "wb", mtime=0) as f:
            f.write(b"\x00\x00\x08\x03" + n.to_bytes(4, "big") + (28).to_bytes(4, "big") * 2)
            f.write(images.tobytes())
        with gzip.GzipFile(folder / f"{split}-labels-idx1-ubyte.gz", "wb", mtime=0) as f:
            f.write(b"\x00\x00\x08\x01" + n.to_bytes(4, "big") + labels.tobytes())
        arrays[split] = (images, labels)
    names = [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]
    return {name: sha256(folder / name) for name in names}, arrays


class LoggingHandler(SimpleHTTPRequestHandler):
    """A static file server that records each request's path and status (the browser tests look for
    files a page asked for and did not get)."""

    requests: list = []

    def log_message(self, format, *args):  # noqa: A002 - the signature of the base class
        pass

    def send_response(self, code, message=None):
        type(self).requests.append((self.path, code))
        super().send_response(code, message)


@contextlib.contextmanager
def static_server(folder):
    """Serve ``folder`` over HTTP on 127.0.0.1, at a free port, for the ``with`` block.

    Yields ``(base, requests)``: the base URL ``http://127.0.0.1:PORT`` and the list of
    ``(path, status)`` the server answered, in order, which grows while the block runs. The server
    stops when the block ends.
    """
    handler = type("Handler", (LoggingHandler,), {"requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.requests
    finally:
        server.shutdown()
