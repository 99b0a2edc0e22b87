"""Local entropy map (1920×1080, 8-bit, N = 9) against skimage.filters.rank.entropy (9×9 footprint).

Two images: a natural photograph upscaled to 1920×1080 (neighbouring windows share most
values) and uniform noise (every window holds ~70 distinct values; the worst case for
skimage, whose per-pixel cost grows with the histogram it scans). Both implementations
count only in-image pixels at the border, and the maps are checked equal before timing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.harness import Table, median_seconds

WIDTH, HEIGHT, WINDOW = 1920, 1080, 9


def _photo() -> np.ndarray:
    import cv2

    sample = Path(__file__).resolve().parent.parent / "sample_images" / "astronaut.png"
    image = cv2.imread(str(sample), cv2.IMREAD_GRAYSCALE)
    if image is None:
        from skimage import data

        image = data.camera()
    return cv2.resize(image, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR)


def run() -> Table:
    from skimage.filters.rank import entropy as rank_entropy
    from skimage.measure import shannon_entropy

    from cvtool.measures.image_entropy import image_entropy, local_entropy

    table = Table("entropy")
    footprint = np.ones((WINDOW, WINDOW), dtype=bool)
    rng = np.random.default_rng(0)
    images = {"photo": _photo(),
              "noise": rng.integers(0, 256, (HEIGHT, WIDTH), dtype=np.uint8)}
    for name, image in images.items():
        ours = local_entropy(image, WINDOW)
        theirs = rank_entropy(image, footprint)
        if not np.allclose(ours, theirs, atol=1e-9):
            raise AssertionError(f"local entropy of {name} differs from skimage")
        t_ours = median_seconds(lambda image=image: local_entropy(image, WINDOW), repeat=3)
        t_base = median_seconds(lambda image=image: rank_entropy(image, footprint), repeat=3)
        table.add(f"local entropy {WIDTH}x{HEIGHT} u8 N={WINDOW} ({name})",
                  "skimage.filters.rank.entropy", t_ours, t_base, target="<= 1.0")

    photo = images["photo"]
    t_ours = median_seconds(lambda: image_entropy(photo), repeat=5)
    t_base = median_seconds(lambda: shannon_entropy(photo, base=2), repeat=5)
    table.add(f"image entropy {WIDTH}x{HEIGHT} u8", "skimage.measure.shannon_entropy",
              t_ours, t_base)
    return table
