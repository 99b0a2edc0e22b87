"""One file through correlate/convolve/filter, as a module-level function a cluster can run.

:func:`filter_file` reads an input, filters it as a local batch does
(:func:`cvtool.pipelines.filter_image.filter_to_pixels`) and
writes the output atomically: exactly the work of one input of a local batch, so a batch run on
a Dask cluster (:class:`cvtool.scaleout.cluster.ClusterBatch`) writes the same bytes. Workers
import it by name from installed cvtool.
"""

from __future__ import annotations

from cvtool import io
from cvtool.pipelines.filter_image import FilterSettings, filter_to_pixels

__all__ = ["filter_file"]


def filter_file(path: str, target: str, settings: FilterSettings,
                workers: int | None = 1) -> tuple[tuple[int, ...], str, str]:
    """Filter the image at ``path`` into ``target``; the output's shape, dtype and out_range.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> folder = tempfile.mkdtemp()
    >>> np.save(os.path.join(folder, "a.npy"), np.arange(6.0).reshape(2, 3))
    >>> filter_file(os.path.join(folder, "a.npy"), os.path.join(folder, "b.npy"),
    ...             FilterSettings("correlate", np.ones((1, 1))))
    ((2, 3), 'float64', 'raw')
    """
    # The local batch's own step (cvtool.cli.filter_run), so the bytes are the same. The
    # input is ours: the output may be written over it (or it is freed once filtered), and
    # the encoder may reorder the output's channels in place. One image alive, not three.
    pixels, mode = filter_to_pixels(io.read_image(path), settings, target, workers=workers,
                                    overwrite_input=True)
    io.write_image(target, pixels, overwrite_input=True)
    return tuple(int(n) for n in pixels.shape), str(pixels.dtype), mode
