"""Generate the Where's-Waldo sample: a crowd scene and Waldo's template.

Usage: python scripts/make_waldo_scene.py [OUTDIR]   (default: sample_images)

Writes ``waldo_scene.png`` (a beach crowd of small cartoon figures with varied shirts,
among them red-shirted decoys and other striped shirts, and exactly one Waldo:
red-and-white horizontally striped shirt, bobble hat, round glasses) and
``waldo_template.png`` (Waldo cropped from the sharp rendering, as a user would have
him). The scene then gets a slight camera blur, so the match is near 1 but not exact.
Everything derives from one fixed seed: running the script again gives the same files.
Drawing uses OpenCV (scripts may; the cvtool core may not).
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

SEED = 20240611
SCENE_SIZE = (600, 800)  # rows, columns
FIGURE_W, FIGURE_H = 24, 52
MARGIN = 2  # template = Waldo's box plus this many pixels of surroundings
RED, WHITE = (200, 30, 35), (245, 245, 245)  # R, G, B

SKIN = [(255, 220, 185), (240, 195, 150), (205, 150, 110), (150, 100, 70), (100, 65, 45)]
HAIR = [(40, 30, 20), (90, 60, 30), (200, 170, 90), (20, 20, 20), (150, 80, 40)]
SHIRTS = [(40, 90, 200), (30, 150, 70), (240, 200, 40), (130, 60, 160), (250, 140, 30),
          (60, 180, 200), (240, 120, 170), (120, 120, 120), (250, 250, 250), (30, 30, 40),
          (150, 90, 50), (170, 220, 80)]
TROUSERS = [(40, 50, 90), (60, 60, 60), (110, 80, 50), (20, 20, 25), (180, 170, 150)]
WALDO_TROUSERS = (45, 70, 150)


def _bgr(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    return (rgb[2], rgb[1], rgb[0])


def _shirt(img: np.ndarray, x: int, y: int, style: str, a: tuple, b: tuple) -> None:
    """Torso (with arms) at figure origin (x, y), in one of several patterns."""
    x0, y0, x1, y1 = x + 5, y + 18, x + 19, y + 35
    cv2.rectangle(img, (x0, y0), (x1, y1), _bgr(a), -1)
    cv2.rectangle(img, (x + 1, y0 + 1), (x + 4, y1 - 3), _bgr(a), -1)  # arms
    cv2.rectangle(img, (x + 20, y0 + 1), (x + 23, y1 - 3), _bgr(a), -1)
    if style == "hstripes":
        for row in range(y0, y1 + 1, 4):
            cv2.rectangle(img, (x + 1, row + 2), (x + 23, min(row + 3, y1)), _bgr(b), -1)
    elif style == "vstripes":
        for col in range(x0, x1 + 1, 4):
            cv2.rectangle(img, (col + 2, y0), (min(col + 3, x1), y1), _bgr(b), -1)
    elif style == "checks":
        for row in range(y0, y1 + 1, 4):
            for col in range(x0 + (row // 4) % 2 * 2, x1 + 1, 4):
                cv2.rectangle(img, (col, row), (min(col + 1, x1), min(row + 1, y1)), _bgr(b), -1)
    # Hands.
    cv2.circle(img, (x + 2, y1 - 1), 2, _bgr(SKIN[0]), -1, cv2.LINE_AA)
    cv2.circle(img, (x + 22, y1 - 1), 2, _bgr(SKIN[0]), -1, cv2.LINE_AA)


def _figure(img: np.ndarray, x: int, y: int, rng: np.random.Generator, *,
            waldo: bool = False, style: str | None = None, colour: tuple | None = None,
            stripe: tuple | None = None) -> None:
    """One cartoon person whose box is (x, y, FIGURE_W, FIGURE_H)."""
    skin = SKIN[0] if waldo else SKIN[rng.integers(len(SKIN))]
    hair = HAIR[1] if waldo else HAIR[rng.integers(len(HAIR))]
    trousers = WALDO_TROUSERS if waldo else TROUSERS[rng.integers(len(TROUSERS))]
    # Legs and shoes.
    cv2.rectangle(img, (x + 6, y + 36), (x + 11, y + 49), _bgr(trousers), -1)
    cv2.rectangle(img, (x + 13, y + 36), (x + 18, y + 49), _bgr(trousers), -1)
    cv2.rectangle(img, (x + 5, y + 49), (x + 11, y + 51), (30, 30, 30), -1)
    cv2.rectangle(img, (x + 13, y + 49), (x + 19, y + 51), (30, 30, 30), -1)
    if waldo:
        _shirt(img, x, y, "hstripes", RED, WHITE)
    else:
        second = stripe or SHIRTS[rng.integers(len(SHIRTS))]
        _shirt(img, x, y, style or "solid", colour or SHIRTS[0], second)
    # Head, hair, face.
    cx, cy = x + 12, y + 10
    cv2.circle(img, (cx, cy), 7, _bgr(skin), -1, cv2.LINE_AA)
    cv2.ellipse(img, (cx, cy - 2), (7, 5), 0, 180, 360, _bgr(hair), -1, cv2.LINE_AA)
    if waldo:
        # Striped beanie with a white bobble.
        cv2.ellipse(img, (cx, cy - 4), (7, 6), 0, 180, 360, _bgr(RED), -1, cv2.LINE_AA)
        cv2.rectangle(img, (cx - 7, cy - 5), (cx + 7, cy - 4), _bgr(WHITE), -1)
        cv2.rectangle(img, (cx - 5, cy - 8), (cx + 5, cy - 7), _bgr(WHITE), -1)
        cv2.circle(img, (cx, cy - 11), 3, _bgr(WHITE), -1, cv2.LINE_AA)
        # Round glasses and a smile.
        cv2.circle(img, (cx - 3, cy + 1), 2, (20, 20, 20), 1, cv2.LINE_AA)
        cv2.circle(img, (cx + 3, cy + 1), 2, (20, 20, 20), 1, cv2.LINE_AA)
        cv2.line(img, (cx - 1, cy + 1), (cx + 1, cy + 1), (20, 20, 20), 1, cv2.LINE_AA)
        cv2.ellipse(img, (cx, cy + 4), (2, 1), 0, 0, 180, (60, 40, 160), 1, cv2.LINE_AA)
    else:
        if rng.random() < 0.3:  # a cap in a random colour
            cap = SHIRTS[rng.integers(len(SHIRTS))]
            cv2.ellipse(img, (cx, cy - 4), (7, 5), 0, 180, 360, _bgr(cap), -1, cv2.LINE_AA)
            cv2.rectangle(img, (cx, cy - 5), (cx + 9, cy - 4), _bgr(cap), -1)
        cv2.circle(img, (cx - 3, cy + 1), 1, (20, 20, 20), -1)
        cv2.circle(img, (cx + 3, cy + 1), 1, (20, 20, 20), -1)
        if rng.random() < 0.15:  # some wear (square) sunglasses
            cv2.rectangle(img, (cx - 5, cy), (cx + 5, cy + 2), (15, 15, 15), -1)


def _background(rng: np.random.Generator) -> np.ndarray:
    """Sand with a sea band and a few towels: flat colours, so the PNG stays small."""
    h, w = SCENE_SIZE
    img = np.empty((h, w, 3), np.uint8)
    img[:] = _bgr((236, 214, 160))
    cv2.rectangle(img, (0, 0), (w, 40), _bgr((70, 150, 210)), -1)
    for _ in range(25):
        x, y = int(rng.integers(0, w - 60)), int(rng.integers(50, h - 30))
        colour = SHIRTS[rng.integers(len(SHIRTS))]
        cv2.rectangle(img, (x, y), (x + 50, y + 22), _bgr(colour), -1)
    return img


def make_scene(seed: int = SEED) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Render the scene and the template (RGB uint8) and return Waldo's top-left (x, y)."""
    rng = np.random.default_rng(seed)
    img = _background(rng)
    h, w = SCENE_SIZE
    spots = [(x, y) for y in range(48, h - FIGURE_H - 2, 44)
             for x in range(8, w - FIGURE_W - 4, 31)]
    jitter = rng.integers(-5, 6, size=(len(spots), 2))
    spots = [(x + int(dx), y + int(dy)) for (x, y), (dx, dy) in zip(spots, jitter, strict=True)]
    waldo_index = int(rng.integers(len(spots) // 3, 2 * len(spots) // 3))
    styles = ["solid", "solid", "hstripes", "vstripes", "checks"]
    # Draw back to front (top rows first) so nearer people overlap farther ones.
    for index in sorted(range(len(spots)), key=lambda i: spots[i][1]):
        x, y = spots[index]
        if index == waldo_index:
            _figure(img, x, y, rng, waldo=True)
            continue
        roll = rng.random()
        if roll < 0.08:  # decoy: plain red shirt
            _figure(img, x, y, rng, style="solid", colour=RED)
        elif roll < 0.12:  # decoy: red shirt with stripes of another colour (never white)
            stripe = SHIRTS[rng.integers(len(SHIRTS) - 4)]
            _figure(img, x, y, rng, style="hstripes", colour=RED, stripe=stripe)
        else:
            style = styles[rng.integers(len(styles))]
            colour = SHIRTS[rng.integers(len(SHIRTS))]
            _figure(img, x, y, rng, style=style, colour=colour)
    wx, wy = spots[waldo_index]
    template = img[wy - MARGIN:wy + FIGURE_H + MARGIN, wx - MARGIN:wx + FIGURE_W + MARGIN].copy()
    # A slight camera blur on the scene only: the user's template is the sharp original.
    scene = cv2.GaussianBlur(img, (0, 0), 0.5)
    return scene[:, :, ::-1].copy(), template[:, :, ::-1].copy(), (wx - MARGIN, wy - MARGIN)


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "sample_images")
    out.mkdir(parents=True, exist_ok=True)
    scene, template, (x, y) = make_scene()
    params = [cv2.IMWRITE_PNG_COMPRESSION, 9]
    cv2.imwrite(str(out / "waldo_scene.png"), scene[:, :, ::-1], params)
    cv2.imwrite(str(out / "waldo_template.png"), template[:, :, ::-1], params)
    print(f"waldo_scene.png {scene.shape[1]}x{scene.shape[0]}, waldo_template.png "
          f"{template.shape[1]}x{template.shape[0]}; Waldo at x={x} y={y}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
