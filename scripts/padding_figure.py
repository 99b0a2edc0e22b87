"""Draw docs/padding_modes.png: what each padding mode makes up, and what it does to a blur.

Top row: the sample image padded with zero, wrap, clamp and mirror (the frame marks the
image itself). Bottom row: the image blurred with a large Gaussian under zero, normalized,
clamp and mirror padding, shown enlarged; note the dark rim that zero padding leaves and
that normalized padding removes. The pixels come from cvtool's own ``pad`` and
``correlate``; OpenCV only reads, resizes, labels and writes.

Usage: python scripts/padding_figure.py [OUTPUT.png]
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from cvtool.filtering import correlate
from cvtool.filtering.kernels import gaussian_kernel
from cvtool.imaging.padding import pad

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_images" / "astronaut.png"
OUTPUT = ROOT / "docs" / "padding_modes.png"
SIDE = 112  # image side in the figure
BORDER = 40  # padding shown on each side
LABEL_H = 22
GAP = 6


def sample_image() -> np.ndarray:
    """The bundled sample photo, or a synthetic picture when it is not there."""
    img = cv2.imread(str(SAMPLE), cv2.IMREAD_COLOR)
    if img is None:
        yy, xx = np.mgrid[0:SIDE, 0:SIDE]
        img = np.stack([xx * 2, yy * 2, 255 - (xx + yy)], axis=-1).clip(0, 255).astype(np.uint8)
        cv2.circle(img, (SIDE // 3, SIDE // 2), SIDE // 5, (255, 255, 255), -1)
        cv2.rectangle(img, (SIDE // 2, SIDE // 5), (SIDE - 10, SIDE // 2), (0, 0, 0), -1)
    return cv2.resize(img, (SIDE, SIDE), interpolation=cv2.INTER_AREA)


def labelled(panel: np.ndarray, text: str) -> np.ndarray:
    """The panel with its label written above it."""
    head = np.full((LABEL_H, panel.shape[1], 3), 255, np.uint8)
    cv2.putText(head, text, (4, LABEL_H - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                cv2.LINE_AA)
    return np.vstack([head, panel])


def row(panels: list[np.ndarray]) -> np.ndarray:
    gap = np.full((panels[0].shape[0], GAP, 3), 255, np.uint8)
    parts = []
    for p in panels:
        parts += [p, gap]
    return np.hstack(parts[:-1])


def main(output: Path = OUTPUT) -> None:
    img = sample_image()
    side = SIDE + 2 * BORDER
    widths = ((BORDER, BORDER), (BORDER, BORDER))
    top = []
    for mode in ("zero", "wrap", "clamp", "mirror"):
        padded = pad(img, widths, mode).copy()
        # Frame the image itself (just outside it, so no image pixel is covered).
        cv2.rectangle(padded, (BORDER - 1, BORDER - 1), (BORDER + SIDE, BORDER + SIDE),
                      (0, 200, 255), 1)
        top.append(labelled(padded, f"pad: {mode}"))
    kernel = gaussian_kernel(31, 8.0)
    bottom = []
    for mode in ("zero", "normalized", "clamp", "mirror"):
        blurred = correlate(img, kernel, padding=mode)
        blurred = np.clip(np.rint(blurred), 0, 255).astype(np.uint8)
        # Enlarged to the panel size: the borders are where the modes differ.
        panel = cv2.resize(blurred, (side, side), interpolation=cv2.INTER_LINEAR)
        bottom.append(labelled(panel, f"blur 31x31: {mode}"))
    sep = np.full((GAP, row(top).shape[1], 3), 255, np.uint8)
    figure = np.vstack([row(top), sep, row(bottom)])
    output.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(output), figure, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise SystemExit(f"cannot write {output}")
    print(f"{output}: {figure.shape[1]}x{figure.shape[0]}, {output.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT)
