"""Writing files so that nothing partial ever appears, and the gate that stops writes on a signal.

A file is written to a temporary name in its own directory and renamed over the target, so an
interrupted or failed run never leaves a truncated file behind. On Ctrl-C/SIGTERM the CLI
closes the write gate (:func:`stop_writes`): writes in flight finish (each is quick and
atomic), writes not yet begun are refused, so the process can exit at once without leaving a
temporary file behind while worker threads may still be computing.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from cvtool.errors import ProcessingError

__all__ = ["WritesStopped", "reopen_writes", "stop_writes", "write_atomically",
           "write_bytes_atomically", "write_stdout_bytes"]

_gate = threading.Condition()
_writes_in_flight: dict[int, int] = {}  # thread id -> nesting depth
_gate_closed = False


class WritesStopped(ProcessingError):
    """A write refused because the run is being interrupted (see :func:`stop_writes`)."""


def stop_writes(timeout: float = 30.0) -> set[int]:
    """Refuse every write not yet begun; wait for those in flight. Returns their thread ids.

    Meant for an interrupted run that is about to exit; the gate stays closed.

    Examples
    --------
    >>> stop_writes(); reopen_writes()
    set()
    """
    global _gate_closed
    with _gate:
        writers = set(_writes_in_flight)
        _gate_closed = True
        _gate.wait_for(lambda: not _writes_in_flight, timeout)
    return writers


def reopen_writes() -> None:
    """Open the gate again (for library callers and tests that continue after an interrupt)."""
    global _gate_closed
    with _gate:
        _gate_closed = False


def _enter_write(name: str) -> None:
    with _gate:
        if _gate_closed:
            raise WritesStopped(f"{name}: not written (interrupted)")
        ident = threading.get_ident()
        _writes_in_flight[ident] = _writes_in_flight.get(ident, 0) + 1


def _leave_write() -> None:
    with _gate:
        ident = threading.get_ident()
        depth = _writes_in_flight.pop(ident, 1) - 1
        if depth:
            _writes_in_flight[ident] = depth
        _gate.notify_all()


def write_stdout_bytes(data: bytes) -> None:
    """Write bytes to stdout, turning a full disk or closed pipe into a :class:`ProcessingError`."""
    _enter_write("<stdout>")
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except OSError as exc:
        # Point fd 1 at /dev/null so the interpreter's own flush at exit cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        raise ProcessingError(f"<stdout>: cannot write ({exc.strerror or exc})") from None
    finally:
        _leave_write()


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_current_umask()


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    Nothing but a complete file ever appears at ``path``; on failure the temporary file is
    removed and a :class:`ProcessingError` names the target.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "x.bin"
    >>> write_bytes_atomically(target, b"abc")
    >>> target.read_bytes(), sorted(p.name for p in target.parent.iterdir())
    (b'abc', ['x.bin'])
    """
    def write(temp_name: str) -> None:
        with open(temp_name, "wb") as handle:
            handle.write(data)

    write_atomically(path, write)


def write_atomically(path: Path, write: Callable[[str], None], *, suffix: str = "") -> None:
    """Let ``write`` fill a temporary file beside ``path``, then rename it over ``path``.

    ``write`` gets the temporary file's name (it ends with ``suffix``, for writers that pick
    a format by the name) and writes the whole file there, by name; an :class:`OSError` it
    raises becomes a :class:`ProcessingError` naming ``path``, and any failure removes the
    temporary file. The file is flushed to disk before the rename, so nothing but a complete
    file ever appears at ``path``.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "x.txt"
    >>> write_atomically(target, lambda name: Path(name).write_text("abc"), suffix=".txt")
    >>> target.read_text(), sorted(p.name for p in target.parent.iterdir())
    ('abc', ['x.txt'])
    """
    folder = path.parent
    temp_name = None
    _enter_write(str(path))
    try:
        fd, temp_name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.",
                                         suffix=".tmp" + suffix)
        os.close(fd)
        write(temp_name)
        # The writer wrote by name and closed its handle: flush the file itself to disk
        # (through a handle opened for writing, which fsync needs on some systems).
        fd = os.open(temp_name, os.O_WRONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(temp_name, _FILE_MODE)
        os.replace(temp_name, path)
        temp_name = None
    except FileNotFoundError:
        raise ProcessingError(f"{path}: cannot write (folder {folder} does not exist)") from None
    except OSError as exc:
        raise ProcessingError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        if temp_name is not None:
            try:
                os.unlink(temp_name)
            except OSError:
                pass
        _leave_write()
