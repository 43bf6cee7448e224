"""A small handwritten-style digits data set, made here (no download, no sklearn).

Each sample is an 8x8 grey image (values 0..16, as in the UCI / sklearn digits) of one of the
ten digits drawn from a 5x7 pixel font, with what makes real handwriting hard to classify:
a random position, stroke strength varying per pixel, strokes that break (pixels dropped),
stray ink, and blur. The same seed gives the same data on every machine.

    x_train, y_train, x_test, y_test = digits()        # float32 (n, 8, 8, 1), int64 labels
"""
from __future__ import annotations

import numpy as np

_FONT = {  # 5 columns x 7 rows
    0: ["01110", "10001", "10011", "10101", "11001", "10001", "01110"],
    1: ["00100", "01100", "00100", "00100", "00100", "00100", "01110"],
    2: ["01110", "10001", "00001", "00010", "00100", "01000", "11111"],
    3: ["11110", "00001", "00001", "01110", "00001", "00001", "11110"],
    4: ["00010", "00110", "01010", "10010", "11111", "00010", "00010"],
    5: ["11111", "10000", "11110", "00001", "00001", "10001", "01110"],
    6: ["00110", "01000", "10000", "11110", "10001", "10001", "01110"],
    7: ["11111", "00001", "00010", "00100", "01000", "01000", "01000"],
    8: ["01110", "10001", "10001", "01110", "10001", "10001", "01110"],
    9: ["01110", "10001", "10001", "01111", "00001", "00010", "01100"],
}
GLYPHS = np.array([[[int(c) for c in row] for row in _FONT[d]] for d in range(10)], np.float64)


def _blur(images: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Each pixel mixed with its 4 neighbours by ``weight`` (one weight per image)."""
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    neighbours = (padded[:, :-2, 1:-1] + padded[:, 2:, 1:-1] + padded[:, 1:-1, :-2] + padded[:, 1:-1, 2:]) / 4
    w = weight[:, None, None]
    return (1 - w) * images + w * neighbours


def make_digits(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images (n, 8, 8, 1) float32 in 0..16 and their labels (n,) int64."""
    labels = rng.integers(0, 10, size=n)
    images = np.zeros((n, 8, 8))
    rows, cols = rng.integers(0, 2, size=n), rng.integers(0, 4, size=n)
    for k in range(n):
        images[k, rows[k]:rows[k] + 7, cols[k]:cols[k] + 5] = GLYPHS[labels[k]]
    images *= rng.uniform(0.5, 1.0, size=images.shape)             # uneven pressure
    images *= rng.random(images.shape) > 0.12                       # broken strokes
    images += (rng.random(images.shape) < 0.06) * rng.uniform(0.3, 1.0, size=images.shape)   # stray ink
    images = _blur(images, rng.uniform(0.0, 0.5, size=n))
    images = np.clip(np.round(images * 16), 0, 16)
    return images[..., None].astype(np.float32), labels.astype(np.int64)


def digits(n_train: int = 3000, n_test: int = 1000, seed: int = 12):
    """(x_train, y_train, x_test, y_test), the same for a given seed."""
    rng = np.random.default_rng(seed)
    x_train, y_train = make_digits(n_train, rng)
    x_test, y_test = make_digits(n_test, rng)
    return x_train, y_train, x_test, y_test
