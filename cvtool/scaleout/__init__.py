"""Huge images and clusters: chunked filtering and matching, and batches on a Dask cluster.

Everything that needs the ``dask`` extra (``dask``, ``distributed``, ``zarr``, ``tifffile``,
``imagecodecs``) lives in this package and is imported only by the paths that use it:
importing ``cvtool.scaleout`` itself imports none of them, so the CLI can call
:func:`require_extra` first and turn a missing extra into a usage error.

- :mod:`cvtool.scaleout.stores`: tiled/striped TIFF, Zarr and ``.npy`` read by region;
  ``.zarr``, tiled ``.tif`` and ``.npy`` outputs written tile by tile, then renamed (atomic).
- :mod:`cvtool.scaleout.chunked_filter`: :func:`~cvtool.scaleout.chunked_filter.filter_chunked`,
  equal to the in-memory ``cvtool.correlate``/``convolve`` for every padding, shape and stride.
- :mod:`cvtool.scaleout.chunked_match`: ZNCC search of a scene read chunk by chunk.
- :mod:`cvtool.scaleout.cluster`: per-input work on a Dask distributed cluster.

Entry points (each raises :class:`~cvtool.errors.UsageError` / ``ProcessingError`` naming the
parameter, as the rest of the core):

- ``require_extra(parameter)`` before anything else, for ``chunked``/``scheduler``;
- ``stores.check_input_path(path)``, ``stores.check_output_path(path)``: usage errors up front;
- ``chunked_filter.filter_chunked(src, dst, kernel, operation=, padding=, pad_value=, stride=,
  shape=, out_range=, gray=, chunk=, workers=, progress=, scheduler=)`` -> ``ChunkedResult``;
- ``chunked_match.search_chunked(scene, template, threshold=, top_k=, scales=, gray=, chunk=,
  workers=, progress=)`` -> ``cvtool.matching.SearchResult``;
- ``cluster.scheduler_address(address)``, ``cluster.shared_path(path)``, and
  ``cluster.ClusterBatch(address).map(fn, items, common=)`` -> futures in input order.
"""

from __future__ import annotations

import importlib.util

from cvtool.errors import UsageError

__all__ = ["EXTRA_MODULES", "INSTALL_HINT", "require_extra"]

#: What ``pip install 'cvtool[dask]'`` provides (import names).
EXTRA_MODULES: tuple[str, ...] = ("dask", "distributed", "zarr", "tifffile", "imagecodecs")

#: The command that installs the extra, as messages print it.
INSTALL_HINT = "pip install 'cvtool[dask]'"


def require_extra(parameter: str, modules: tuple[str, ...] = EXTRA_MODULES) -> None:
    """Refuse ``parameter`` with a usage error naming the install command if the extra is missing.

    Only looks the modules up (``importlib.util.find_spec``); nothing is imported, so a
    command that checks its options first pays nothing for it.

    Parameters
    ----------
    parameter : str
        What needs the extra, by parameter name (``"chunked"``, ``"scheduler"``); the CLI
        shows it as its flag through its one table of parameter names.
    modules : tuple of str
        The import names to look for (default: all of :data:`EXTRA_MODULES`).

    Raises
    ------
    UsageError
        When one of ``modules`` is not installed.

    Examples
    --------
    >>> require_extra("chunked", modules=("os",))
    >>> require_extra("chunked", modules=("no_such_module_here",))
    Traceback (most recent call last):
    ...
    cvtool.errors.UsageError: chunked needs the dask extra (no_such_module_here is not \
installed): pip install 'cvtool[dask]'
    """
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(
            f"{parameter} needs the dask extra ({', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not installed): {INSTALL_HINT}",
            parameter=parameter)
