"""Drawing in NumPy for annotated outputs: rectangles and a tiny bitmap font for scores.

No OpenCV: boxes are array slices and glyphs are 3×5 bitmaps scaled up by whole pixels,
so an annotation looks the same whatever build of OpenCV writes the file.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cvtool.imaging.color import full_scale

__all__ = ["draw_box", "draw_text", "text_size", "annotate_matches", "to_rgb"]

# 3 columns × 5 rows per glyph, one string per row ("#" = ink).
_GLYPHS = {
    "0": ("###", "#.#", "#.#", "#.#", "###"),
    "1": (".#.", "##.", ".#.", ".#.", "###"),
    "2": ("###", "..#", "###", "#..", "###"),
    "3": ("###", "..#", ".##", "..#", "###"),
    "4": ("#.#", "#.#", "###", "..#", "..#"),
    "5": ("###", "#..", "###", "..#", "###"),
    "6": ("###", "#..", "###", "#.#", "###"),
    "7": ("###", "..#", ".#.", ".#.", ".#."),
    "8": ("###", "#.#", "###", "#.#", "###"),
    "9": ("###", "#.#", "###", "..#", "###"),
    ".": ("...", "...", "...", "...", ".#."),
    "-": ("...", "...", "###", "...", "..."),
    "x": ("...", "#.#", ".#.", "#.#", "..."),
    " ": ("...", "...", "...", "...", "..."),
}
_BITMAPS = {ch: np.array([[c == "#" for c in row] for row in rows]) for ch, rows in _GLYPHS.items()}
GLYPH_W, GLYPH_H = 3, 5


def _fill(image: np.ndarray, y0: int, y1: int, x0: int, x1: int, colour) -> None:
    """Fill rows y0..y1-1 and columns x0..x1-1, clipped to the image."""
    h, w = image.shape[:2]
    y0, y1, x0, x1 = max(y0, 0), min(y1, h), max(x0, 0), min(x1, w)
    if y0 < y1 and x0 < x1:
        image[y0:y1, x0:x1] = colour


def draw_box(image: np.ndarray, x: int, y: int, width: int, height: int,
             colour: float | Sequence[float], thickness: int = 2) -> None:
    """Draw the outline of a ``width × height`` box whose top-left pixel is ``(x, y)``, in place.

    The lines lie inside the box (so the box's pixels are exactly what was matched) and
    are clipped to the image.

    Examples
    --------
    >>> img = np.zeros((5, 6), np.uint8)
    >>> draw_box(img, 1, 1, 4, 3, 9, thickness=1)
    >>> img
    array([[0, 0, 0, 0, 0, 0],
           [0, 9, 9, 9, 9, 0],
           [0, 9, 0, 0, 9, 0],
           [0, 9, 9, 9, 9, 0],
           [0, 0, 0, 0, 0, 0]], dtype=uint8)
    """
    t = max(1, min(thickness, (width + 1) // 2, (height + 1) // 2))
    _fill(image, y, y + t, x, x + width, colour)
    _fill(image, y + height - t, y + height, x, x + width, colour)
    _fill(image, y, y + height, x, x + t, colour)
    _fill(image, y, y + height, x + width - t, x + width, colour)


def text_size(text: str, scale: int = 1) -> tuple[int, int]:
    """``(width, height)`` in pixels of ``text`` drawn by :func:`draw_text`.

    Examples
    --------
    >>> text_size("0.97", scale=2)
    (30, 10)
    """
    if not text:
        return 0, GLYPH_H * scale
    return (len(text) * (GLYPH_W + 1) - 1) * scale, GLYPH_H * scale


def draw_text(image: np.ndarray, x: int, y: int, text: str, colour: float | Sequence[float],
              scale: int = 1) -> None:
    """Draw ``text`` (digits, ``.``, ``-``, ``x`` and space) with its top-left at ``(x, y)``.

    Each glyph is 3×5 pixels times ``scale``, one blank column apart; ink falling outside
    the image is clipped. Other characters are drawn as blanks.

    Examples
    --------
    >>> img = np.zeros((5, 7), np.uint8)
    >>> draw_text(img, 0, 0, "1.", 1)
    >>> img
    array([[0, 1, 0, 0, 0, 0, 0],
           [1, 1, 0, 0, 0, 0, 0],
           [0, 1, 0, 0, 0, 0, 0],
           [0, 1, 0, 0, 0, 0, 0],
           [1, 1, 1, 0, 0, 1, 0]], dtype=uint8)
    """
    for index, char in enumerate(text):
        bitmap = _BITMAPS.get(char, _BITMAPS[" "])
        left = x + index * (GLYPH_W + 1) * scale
        for row, col in zip(*np.nonzero(bitmap), strict=True):
            _fill(image, y + row * scale, y + (row + 1) * scale,
                  left + col * scale, left + (col + 1) * scale, colour)


def to_rgb(image: np.ndarray) -> np.ndarray:
    """A copy of ``image`` with three colour channels (gray repeated; alpha kept as a 4th).

    Examples
    --------
    >>> to_rgb(np.zeros((2, 2), np.uint8)).shape
    (2, 2, 3)
    """
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    if image.shape[2] == 2:  # gray + alpha
        return np.concatenate([np.repeat(image[:, :, :1], 3, axis=2), image[:, :, 1:]], axis=2)
    return image.copy()


def annotate_matches(scene: np.ndarray, boxes: Sequence[tuple[int, int, int, int, float]],
                     *, thickness: int | None = None) -> np.ndarray:
    """The scene in colour with each ``(x, y, width, height, score)`` boxed and labelled.

    Boxes are red (the best) or orange, each with its score (3 decimals) on a dark plate
    just above the box (or inside it when the box touches the top edge). Colours are
    full-scale for the scene's pixel type (255 for 8-bit, 65535 for 16-bit, 1.0 for
    floats); an alpha channel is made opaque under the drawings.

    Examples
    --------
    >>> out = annotate_matches(np.zeros((40, 50), np.uint8), [(10, 12, 20, 15, 0.973)])
    >>> out.shape, out[12, 15].tolist()
    ((40, 50, 3), [255, 0, 0])
    """
    out = to_rgb(scene)
    top = full_scale(out.dtype)
    has_alpha = out.shape[2] == 4

    def paint(rgb: tuple[float, float, float]) -> list[float]:
        return [c * top for c in rgb] + ([top] if has_alpha else [])

    h, w = out.shape[:2]
    scale = max(1, min(h, w) // 300)
    for index, (x, y, bw, bh, score) in enumerate(boxes):
        colour = paint((1.0, 0.0, 0.0) if index == 0 else (1.0, 0.55, 0.0))
        line = thickness if thickness is not None else max(1, min(bw, bh) // 25 + 1)
        draw_box(out, x, y, bw, bh, colour, line)
        label = f"{score:.3f}"
        tw, th = text_size(label, scale)
        pad = scale
        ly = y - th - 2 * pad if y - th - 2 * pad >= 0 else y + line
        lx = min(max(x, 0), max(w - tw - 2 * pad, 0))
        _fill(out, ly, ly + th + 2 * pad, lx, lx + tw + 2 * pad, paint((0.1, 0.1, 0.1)))
        draw_text(out, lx + pad, ly + pad, label, paint((1.0, 1.0, 1.0)), scale)
    return out
