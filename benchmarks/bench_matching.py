"""Template matching: cvtool's ZNCC against OpenCV and scikit-image, in the same run.

1. A 2048×2048 8-bit scene and a 64×64 template (cut from it): ``cvtool.matching.zncc``
   against ``cv2.matchTemplate(TM_CCOEFF_NORMED)`` (target: at most 1.5× its time) and
   against ``skimage.feature.match_template`` (target: at least 3× faster, ratio <= 0.33).
   The same in colour (one joint ZNCC over R, G, B) against OpenCV, for information.
2. An 8-scale search (factors 0.5..2, template 32..128 px, with top-k and NMS) on a
   1920×1080 scene, reported as a ratio to one single-scale ``cv2.matchTemplate`` call
   with the 64×64 template on the same scene: coarse-to-fine (the default) and exhaustive
   (every scale at full resolution), checked to agree.

The maps are checked against OpenCV before anything is timed. The scene is the sample
photograph enlarged to size (plus mild noise, so no window is flat), i.e. natural content.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.harness import Table, median_seconds


def _scene(height: int, width: int, colour: bool = False) -> np.ndarray:
    import cv2

    sample = Path(__file__).resolve().parent.parent / "sample_images" / "astronaut.png"
    image = cv2.imread(str(sample), cv2.IMREAD_COLOR if colour else cv2.IMREAD_GRAYSCALE)
    if image is None:
        from skimage import data

        image = data.astronaut() if colour else data.camera()
    image = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    rng = np.random.default_rng(0)
    noisy = image.astype(np.int16) + rng.integers(-3, 4, image.shape, dtype=np.int16)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def run() -> Table:
    import cv2
    from skimage.feature import match_template

    from cvtool.cli.grammar import parse_scales
    from cvtool.matching import find, zncc

    table = Table("matching")

    scene = _scene(2048, 2048)
    template = scene[900:964, 1000:1064].copy()
    ours = zncc(scene, template)
    reference = cv2.matchTemplate(scene, template, cv2.TM_CCOEFF_NORMED)
    if not np.allclose(ours, reference, atol=1e-4):
        raise AssertionError("zncc differs from cv2.matchTemplate by more than 1e-4")
    t_ours = median_seconds(lambda: zncc(scene, template), repeat=5)
    t_cv2 = median_seconds(lambda: cv2.matchTemplate(scene, template, cv2.TM_CCOEFF_NORMED),
                           repeat=5)
    t_sk = median_seconds(lambda: match_template(scene, template), repeat=3)
    table.add("zncc 2048x2048 u8, template 64x64", "cv2.matchTemplate CCOEFF_NORMED",
              t_ours, t_cv2, target="<= 1.5")
    table.add("zncc 2048x2048 u8, template 64x64", "skimage.feature.match_template",
              t_ours, t_sk, target="<= 0.33 (3x faster)")

    colour = _scene(2048, 2048, colour=True)
    ctemplate = colour[900:964, 1000:1064].copy()
    if not np.allclose(zncc(colour, ctemplate),
                       cv2.matchTemplate(colour, ctemplate, cv2.TM_CCOEFF_NORMED), atol=1e-4):
        raise AssertionError("colour zncc differs from cv2.matchTemplate by more than 1e-4")
    t_ours = median_seconds(lambda: zncc(colour, ctemplate), repeat=3)
    t_cv2 = median_seconds(
        lambda: cv2.matchTemplate(colour, ctemplate, cv2.TM_CCOEFF_NORMED), repeat=3)
    table.add("zncc 2048x2048 RGB, template 64x64x3", "cv2.matchTemplate CCOEFF_NORMED",
              t_ours, t_cv2)

    hd = _scene(1080, 1920)
    hd_template = hd[500:564, 900:964].copy()
    scales = parse_scales("0.5:2:8")
    matches = find(hd, hd_template, scales=scales, top_k=3)
    # 1 is not among the factors, so the best box is a near scale around the same place.
    if not matches or abs(matches[0].x - 900) > 8 or abs(matches[0].y - 500) > 8:
        raise AssertionError(f"8-scale search missed the template: {matches[:1]}")
    t_ours = median_seconds(lambda: find(hd, hd_template, scales=scales, top_k=3), repeat=3)
    t_cv2 = median_seconds(
        lambda: cv2.matchTemplate(hd, hd_template, cv2.TM_CCOEFF_NORMED), repeat=5)
    table.add("find 1920x1080 u8, 8 scales 0.5..2 (32..128 px)",
              "one cv2.matchTemplate, scale 1", t_ours, t_cv2, target="(reported)")
    exhaustive = find(hd, hd_template, scales=scales, top_k=3, exhaustive=True)
    if [(m.x, m.y, m.scale) for m in exhaustive] != [(m.x, m.y, m.scale) for m in matches]:
        raise AssertionError("coarse-to-fine and exhaustive searches disagree")
    t_ours = median_seconds(
        lambda: find(hd, hd_template, scales=scales, top_k=3, exhaustive=True), repeat=3)
    table.add("same, exhaustive (every scale at full resolution)",
              "one cv2.matchTemplate, scale 1", t_ours, t_cv2, target="(reported)")
    return table
