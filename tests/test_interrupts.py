"""Interruptions and unwritable outputs: Ctrl-C, SIGTERM, read-only folders, a full disk.

These run the installed ``cvtool`` script in a subprocess, as a user would: signals, exit codes
and the files left on disk are properties of the real process, not of an in-process runner.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cvtool import io

CVTOOL = shutil.which("cvtool", path=str(Path(sys.executable).parent)) or "cvtool"
#: Starts the command that follows with Ctrl-C at its default, as a user's shell starts it. A
#: suite started in the background (``(make test &)``, some CI runners) or by a process that
#: ignores SIGINT (pytest-xdist's workers) hands its children SIGINT ignored, which exec keeps
#: and Python then honours: Ctrl-C would do nothing, whatever cvtool does.
WITH_DEFAULT_SIGINT = [sys.executable, "-c",
                       "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                       "os.execvp(sys.argv[1], sys.argv[1:])"]

# A 25×25 kernel with no special structure (not separable, not a box) keeps each 1000×1000
# image busy for a good fraction of a second, so a signal lands in the middle of the batch.
SLOW_KERNEL = ";".join(" ".join(str((i * 7 + j * 3) % 5 + 1) for j in range(25))
                       for i in range(25))
BATCH = 16


@pytest.fixture(scope="module")
def big_batch(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("big_batch")
    rng = np.random.default_rng(0)
    for index in range(BATCH):
        io.write_image(folder / f"img{index:02d}.png",
                       rng.integers(0, 256, (1000, 1000), dtype=np.uint8))
    return folder


def _visible_outputs(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if not p.name.startswith(".")] if folder.exists() else []


def _interrupt_mid_batch(big_batch: Path, outdir: Path, signum: int, jobs: int):
    """Start the batch, send ``signum`` once the first output exists; return (result, seconds)."""
    process = subprocess.Popen(
        WITH_DEFAULT_SIGINT + [CVTOOL, "correlate", str(big_batch), "-k", SLOW_KERNEL, "-o",
                               str(outdir), "-j", str(jobs)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not _visible_outputs(outdir):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            out, err = process.communicate()
            pytest.fail(f"no output appeared before the batch ended: {err.decode()}")
        time.sleep(0.01)
    process.send_signal(signum)
    sent = time.monotonic()
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err.decode(), time.monotonic() - sent


@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
@pytest.mark.parametrize("jobs", [1, 2])
def test_signal_mid_batch_stops_cleanly(big_batch, tmp_path, signum, code, jobs):
    """The documented exit code, a line saying what was written, no traceback, no stray file.

    Every file left in the output folder decodes completely and is the right size; nothing
    hidden (a temporary ``.name.XXXX.tmp``) remains; the batch did not run to its end.
    """
    outdir = tmp_path / "out"
    returncode, out, err, _ = _interrupt_mid_batch(big_batch, outdir, signum, jobs)
    assert returncode == code, err
    assert "Traceback" not in err and out == b""
    assert err.strip().splitlines()[-1].startswith("interrupted: ")
    names = sorted(p.name for p in outdir.iterdir())
    assert all(not name.startswith(".") and not name.endswith(".tmp") for name in names), names
    assert 1 <= len(names) < BATCH
    for name in names:
        assert io.read_image(outdir / name).shape == (1000, 1000)


def test_interrupt_reports_the_number_written(big_batch, tmp_path):
    """`interrupted: N written, M not finished`: N matches the files present (±1 in flight)."""
    outdir = tmp_path / "out"
    _, _, err, _ = _interrupt_mid_batch(big_batch, outdir, signal.SIGINT, 1)
    words = err.strip().splitlines()[-1].split()
    written, unfinished = int(words[1]), int(words[3])
    assert written + unfinished == BATCH
    assert written <= len(_visible_outputs(outdir)) <= written + 1


def _time_after_first_output(argv: list[str], outdir: Path, signum: int | None) -> float:
    """Seconds from the first output file to the end of the process (signalled, or not)."""
    process = subprocess.Popen(WITH_DEFAULT_SIGINT + argv, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not _visible_outputs(outdir) and time.monotonic() < deadline:
        time.sleep(0.005)
    seen = time.monotonic()
    if signum is not None:
        process.send_signal(signum)
    process.wait(timeout=120)
    return time.monotonic() - seen


def test_interrupt_does_not_wait_for_the_image_being_computed(tmp_path):
    """Ctrl-C stops at once, without finishing the (large) image still being computed.

    The batch is a tiny image, then a large one (.npy, so that computing, not decoding,
    dominates). Uninterrupted, the large one takes a while after the tiny one's output appears;
    interrupted right then, the process must be gone in a small part of that time. (Relative,
    so a fast or slow machine changes nothing.)
    """
    tiny, large = tmp_path / "a_tiny.npy", tmp_path / "b_large.npy"
    np.save(tiny, np.zeros((4, 4), np.uint8))
    np.save(large, np.random.default_rng(0).integers(0, 256, (3000, 3000, 3), np.uint8))

    def argv(outdir: Path) -> list[str]:
        return [CVTOOL, "correlate", str(tiny), str(large), "-k", SLOW_KERNEL, "-o", str(outdir)]

    full_run = _time_after_first_output(argv(tmp_path / "o1"), tmp_path / "o1", None)
    interrupted = _time_after_first_output(argv(tmp_path / "o2"), tmp_path / "o2",
                                           signal.SIGINT)
    assert interrupted < full_run / 4, (interrupted, full_run)
    assert [p.name for p in (tmp_path / "o2").iterdir()] == ["a_tiny.npy"]


# ---------------------------------------------------------------------------------------------
# Unwritable outputs. CI runs as root, which ignores directory permissions, so a chmod'ed folder
# proves nothing there: we make the folder truly read-only for the process instead.


def _can(command: list[str]) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _read_only_runner(folder: Path):
    """A way to run a command for which ``folder`` is read-only, or skip saying why not.

    Not root: chmod is enough. Root: a read-only bind mount of the folder in a private mount
    namespace (``unshare -m``), so the rest of the system never sees it.
    """
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return lambda argv: subprocess.run(argv, capture_output=True, timeout=120)
    probe = ["unshare", "-m", "--propagation", "private", "sh", "-c",
             f'mount --bind "{folder}" "{folder}" && mount -o remount,ro,bind "{folder}" '
             f'"{folder}" && ! touch "{folder}/.probe" 2>/dev/null']
    if shutil.which("unshare") and _can(probe):
        def run(argv: list[str]) -> subprocess.CompletedProcess:
            script = ('mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1" && '
                      'shift && exec "$@"')
            return subprocess.run(
                ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
                 str(folder), *argv], capture_output=True, timeout=120)
        return run
    pytest.skip("running as root without mount namespaces (unshare -m): no way to make a "
                "folder read-only for root here")


@pytest.fixture
def small_inputs(tmp_path) -> list[Path]:
    paths = []
    for index in range(3):
        path = tmp_path / f"in{index}.png"
        io.write_image(path, np.full((8, 8), 10 * index, np.uint8))
        paths.append(path)
    return paths


def test_read_only_output_folder_is_exit_1_and_leaves_nothing(tmp_path, small_inputs):
    """Each output gets its `error: ... cannot write`, exit 1, and the folder stays empty."""
    outdir = tmp_path / "ro"
    outdir.mkdir()
    run = _read_only_runner(outdir)
    result = run([CVTOOL, "correlate", *map(str, small_inputs), "-k", "1", "-o", str(outdir)])
    err = result.stderr.decode()
    assert result.returncode == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith("error: ") for line in lines[:3])
    assert all("cannot write" in line for line in lines[:3])
    assert lines[-1] == "0 written, 3 failed"
    assert "Traceback" not in err
    assert list(outdir.iterdir()) == []


def test_read_only_single_output_is_one_error_line(tmp_path, small_inputs):
    """One input, one unwritable output: exactly one `error:` line naming the output file."""
    outdir = tmp_path / "ro"
    outdir.mkdir()
    run = _read_only_runner(outdir)
    target = outdir / "result.png"
    result = run([CVTOOL, "correlate", str(small_inputs[0]), "-k", "1", "-o", str(target)])
    err = result.stderr.decode()
    assert result.returncode == 1
    assert err.count("\n") == 1 and err.startswith("error: ") and str(target) in err
    assert list(outdir.iterdir()) == []


def test_full_disk_leaves_no_partial_file(tmp_path):
    """A file system that fills up mid-write: `error:` naming ENOSPC, exit 1, no partial file.

    A 64 KiB tmpfs in a private mount namespace is the full disk; the image written to it is
    incompressible and larger than that.
    """
    if not (os.geteuid() == 0 and shutil.which("unshare")
            and _can(["unshare", "-m", "--propagation", "private", "true"])):
        pytest.skip("needs root and mount namespaces (unshare -m) to mount a tiny tmpfs")
    src = tmp_path / "noise.png"
    io.write_image(src, np.random.default_rng(0).integers(0, 256, (200, 200, 3), np.uint8))
    disk = tmp_path / "disk"
    disk.mkdir()
    script = ('mount -t tmpfs -o size=64k tmpfs "$1" && shift && "$@"; code=$?; '
              'ls -A "$DISK"; exit $code')
    result = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", str(disk),
         CVTOOL, "correlate", str(src), "-k", "1", "-o", str(disk / "out.png")],
        capture_output=True, timeout=120, env={**os.environ, "DISK": str(disk)})
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert err.startswith("error: ") and "No space left on device" in err
    assert err.count("\n") == 1
    assert result.stdout == b""  # `ls -A` of the tmpfs after the run: nothing, not even a .tmp


def test_stdout_on_a_full_device_is_exit_1(tmp_path):
    """`-o -` into /dev/full: one `error: ... <stdout>: cannot write ...` line, exit 1."""
    if not os.path.exists("/dev/full"):
        pytest.skip("/dev/full does not exist on this system")
    src = tmp_path / "a.png"
    io.write_image(src, np.full((8, 8), 3, np.uint8))
    with open("/dev/full", "wb") as full:
        result = subprocess.run([CVTOOL, "correlate", str(src), "-k", "1", "-o", "-"],
                                stdout=full, stderr=subprocess.PIPE, timeout=120)
    err = result.stderr.decode()
    assert result.returncode == 1, err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "<stdout>: cannot write (No space left on device)" in err
    assert "Traceback" not in err
