"""Regenerate ``docs/waldo_found.jpg``, the README's picture of what ``make demo`` finds.

Runs the installed ``cvtool find-waldo`` on the bundled scene exactly as the demo does,
then crops the annotated scene around the match and stores it as a small JPEG.
Usage: ``.venv/bin/python scripts/make_readme_figures.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parent.parent
CVTOOL = Path(sys.executable).parent / "cvtool"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        annotated = Path(tmp) / "found.png"
        result = subprocess.run(
            [str(CVTOOL), "find-waldo", "sample_images/waldo_scene.png",
             "-t", "sample_images/waldo_template.png", "-o", str(annotated), "--json"],
            cwd=ROOT, check=True, capture_output=True, text=True)
        match = json.loads(result.stdout)["matches"][0]
        image = cv2.imread(str(annotated))
    cx, cy = match["x"] + match["width"] // 2, match["y"] + match["height"] // 2
    half_w, half_h = 200, 120
    x0 = max(0, min(image.shape[1] - 2 * half_w, cx - half_w))
    y0 = max(0, min(image.shape[0] - 2 * half_h, cy - half_h))
    crop = image[y0:y0 + 2 * half_h, x0:x0 + 2 * half_w]
    crop = cv2.resize(crop, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    target = ROOT / "docs" / "waldo_found.jpg"
    cv2.imwrite(str(target), crop, [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {target} (match {match})")


if __name__ == "__main__":
    main()
