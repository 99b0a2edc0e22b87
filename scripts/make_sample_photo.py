"""Regenerate ``sample_images/astronaut.png``: the public-domain NASA photograph of Eileen
Collins that scikit-image ships (``skimage.data.astronaut``), shrunk to 256×256 to keep it small.

Run with the test extra installed: ``.venv/bin/python scripts/make_sample_photo.py``.
"""

from pathlib import Path

import cv2
import skimage.data

TARGET = Path(__file__).resolve().parent.parent / "sample_images" / "astronaut.png"


def main() -> None:
    rgb = skimage.data.astronaut()
    small = cv2.resize(rgb, (256, 256), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(TARGET), cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
