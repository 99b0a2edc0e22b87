"""Generate the samples of ``find-waldo --method robust``: Waldo redrawn, not copied.

Usage: python scripts/make_robust_scenes.py [OUTDIR]   (default: sample_images)

Writes ``robust_template.png`` (Waldo in his fixed pose on plain grey, with an alpha channel
marking his pixels), and three 640×480 crowd scenes rendered by ``benchmarks/waldo_world.py``
(each figure drawn anew, nothing resized or pasted): ``robust_scene_1.png`` (Waldo in
another pose and turned 5–20°), ``robust_scene_2.png`` (another pose under a colour cast) and
``robust_scene_3.png`` (no Waldo, many look-alikes). Seeded: running it again gives the same
files. Writing PNGs uses OpenCV (scripts may; the cvtool core may not).
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.waldo_world import make_template, render_scene  # noqa: E402

SEED = 424242
SIZE = (480, 640)
SCENES = (("robust_scene_1.png", "rotation", 0), ("robust_scene_2.png", "cast", 0),
          ("robust_scene_3.png", "negative", 0))


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "sample_images")
    out.mkdir(parents=True, exist_ok=True)
    rgba = make_template(alpha=True)
    cv2.imwrite(str(out / "robust_template.png"), rgba[:, :, [2, 1, 0, 3]])
    for name, condition, index in SCENES:
        scene = render_scene(condition, SEED, index, size=SIZE)
        cv2.imwrite(str(out / name), scene.image[:, :, ::-1])
        print(f"{name}: {condition}, Waldo boxes (x, y, w, h) = {scene.boxes}")


if __name__ == "__main__":
    main()
