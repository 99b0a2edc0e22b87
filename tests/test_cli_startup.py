"""Start-up and shell completion: what a shell loop or a <TAB> pays, and what it gets.

``--help``, ``--version`` and completion must not import NumPy or OpenCV (a shell loop of one
cvtool call per file pays the start-up on every call), and a real command imports only its
own part of the core. Completion is checked by running Typer's generated script in a real bash.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import CVTOOL

BIN = str(Path(CVTOOL).parent)

# Runs the cvtool entry point with ARGS, then prints which heavy modules got imported.
_PROBE = """
import sys
from cvtool.cli import main
sys.argv = ["cvtool", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
sys.stdout.flush()
names = ("numpy", "cv2", "rich", "cvtool.filtering", "cvtool.matching", "cvtool.measures",
         "cvtool.io", "threadpoolctl", *(f"cvtool.cli.{c}" for c in COMMAND_MODULES))
sys.__stderr__.write("LOADED " + " ".join(n for n in names if n in sys.modules) + "\\n")
if "numpy" in sys.modules:
    from threadpoolctl import threadpool_info
    threads = {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}
    sys.__stderr__.write("BLAS_THREADS " + " ".join(map(str, sorted(threads))) + "\\n")
"""

# The modules of the subcommands (cvtool/cli/<name>.py); a run may import its own only.
COMMAND_MODULES = ("correlate", "filter", "find_waldo", "entropy", "normalize", "selftest")
_PROBE = _PROBE.replace("COMMAND_MODULES", repr(COMMAND_MODULES))


def _probe(*args: str, env: dict | None = None, cwd: str | None = None) -> dict[str, set[str]]:
    """Run ``cvtool ARGS`` in a fresh interpreter; its LOADED (and BLAS_THREADS) lines."""
    done = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})}, cwd=cwd)
    return {ln.split()[0]: set(ln.split()[1:]) for ln in done.stderr.splitlines()
            if ln.startswith(("LOADED", "BLAS_THREADS"))}


def _loaded(*args: str, env: dict | None = None, cwd: str | None = None) -> set[str]:
    return _probe(*args, env=env, cwd=cwd)["LOADED"]


def _heavy(loaded: set[str]) -> set[str]:
    """The loaded names that are not command modules of cvtool.cli."""
    return {name for name in loaded if not name.startswith("cvtool.cli.")}


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["filter", "--help"],
                                  ["find-waldo", "--help"], []])
def test_help_and_version_import_neither_numpy_nor_opencv(args):
    """The interpreter, Typer and Click only: no NumPy, OpenCV, Rich or core module."""
    assert _heavy(_loaded(*args)) == set()


def test_version_reads_no_command_module():
    """--version answers before any subcommand is looked up: no command module is read."""
    assert _loaded("--version") == set()


def test_completion_imports_neither_numpy_nor_opencv():
    """A <TAB> runs the program too: it must cost only the interpreter's start."""
    env = {"_CVTOOL_COMPLETE": "complete_bash", "COMP_WORDS": "cvtool filter --pa",
           "COMP_CWORD": "2"}
    assert _heavy(_loaded(env=env)) == set()


def test_a_command_imports_only_its_own_core(tmp_path):
    """entropy --probs needs the information measures: not OpenCV, filtering or matching."""
    assert _loaded("entropy", "--probs", "0.5 0.5") == {"numpy", "cvtool.measures",
                                                         "cvtool.cli.entropy"}


def test_filter_help_builds_only_the_filter_command():
    """`cvtool filter --help` looks up one subcommand: the other command modules stay unread."""
    assert _loaded("filter", "--help") == {"cvtool.cli.filter"}


def test_root_help_lists_every_command_without_numpy():
    """`cvtool --help` needs every subcommand's one-line help: all command modules, no NumPy."""
    assert _loaded("--help") == {f"cvtool.cli.{c}" for c in COMMAND_MODULES}


# A premise of the next test, run as ``python -c``: the same image and kernel through the
# library, in a process that did not ask for single-threaded BLAS, do need threadpoolctl.
_LIBRARY_FILTER = """
import sys
from cvtool import io
from cvtool.filtering import correlate
from cvtool.filtering.kernels import named_kernel
correlate(io.read_image(sys.argv[1]), named_kernel("gaussian"), padding="mirror")
print("threadpoolctl" in sys.modules)
"""


def test_a_filter_run_imports_only_its_command_and_starts_blas_on_one_thread(tmp_path):
    """A shell loop pays each call's start-up: `cvtool filter` reads its own command module
    only (not correlate, find-waldo, entropy, normalize, selftest), never matching or the
    measures, and BLAS loads on one thread (the filter would hold it there anyway), so
    threadpoolctl's import and library scan are skipped while the strategy auto picks for
    this image uses BLAS (checked first through the library, which still imports it)."""
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), np.random.default_rng(0).integers(0, 256, (240, 320, 3), np.uint8))
    library = subprocess.run([sys.executable, "-c", _LIBRARY_FILTER, str(src)],
                             capture_output=True, text=True, timeout=60)
    assert library.stdout.split() == ["True"], library.stderr  # the premise: BLAS is used
    found = _probe("filter", str(src), "-n", "gaussian", "-o", str(tmp_path / "out.png"))
    assert found["LOADED"] == {"numpy", "cv2", "cvtool.filtering", "cvtool.io",
                               "cvtool.cli.filter"}
    assert found["BLAS_THREADS"] == {"1"}
    assert (tmp_path / "out.png").exists()


def test_filter_list_needs_no_opencv():
    """filter --list prints kernels: NumPy and the kernels, not OpenCV or matching."""
    loaded = _loaded("filter", "--list")
    assert "cv2" not in loaded and "cvtool.matching" not in loaded and "numpy" in loaded


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("words, cword, expected", [
    ("cvtool fi", 1, ["filter", "find-waldo"]),
    ("cvtool filter --pa", 2, ["--padding", "--pad-value"]),
    ("cvtool find-waldo --th", 2, ["--threshold"]),
    ("cvtool normalize --sa", 2, ["--save-stats"]),
    ("cvtool filter -p mi", 3, ["mirror"]),
    ("cvtool filter -n sobel", 3, ["sobel-x", "sobel-y"]),
    ("cvtool correlate --out-range r", 3, ["rescale", "raw"]),
    ("cvtool convolve --shape f", 3, ["full"]),
])
def test_bash_completion_script_completes_commands_and_options(words, cword, expected):
    """The script of `cvtool --show-completion` (bash), sourced in a real bash and called as
    bash calls it (COMP_WORDS, COMP_CWORD), suggests subcommands, options and values (padding
    modes, kernel names, out-range mappings and shapes, from the core's own tables)."""
    script = f"""
source <(cvtool --show-completion)
complete -p cvtool
COMP_WORDS=({words}); COMP_CWORD={cword}
_cvtool_completion cvtool
printf 'REPLY %s\\n' "${{COMPREPLY[@]}}"
"""
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                          env=env)
    assert done.returncode == 0, done.stderr
    assert "complete -o default -F _cvtool_completion cvtool" in done.stdout
    replies = [ln.split(" ", 1)[1] for ln in done.stdout.splitlines() if ln.startswith("REPLY ")]
    assert replies == expected


@pytest.mark.parametrize("shell, needle", [
    ("bash", "complete -o default -F _cvtool_completion cvtool"),
    ("zsh", "compdef _cvtool_completion cvtool"),
    ("fish", "complete --command cvtool"),
])
def test_completion_scripts_for_bash_zsh_and_fish(shell, needle):
    """--show-completion SHELL prints that shell's script (shell detection off, as in CI)."""
    env = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    done = subprocess.run([CVTOOL, "--show-completion", shell], capture_output=True, text=True,
                          timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert needle in done.stdout


# Runs the cvtool entry point and prints, for every collection of the cyclic garbage collector
# once main() was called, whether start-up's objects were frozen by then; then its state.
_GC_PROBE = """
import gc, sys
started, frozen_at_collection = [], []
gc.callbacks.append(lambda phase, info: started and phase == "start"
                    and frozen_at_collection.append(gc.get_freeze_count() > 0))
from cvtool.cli import main
sys.argv = ["cvtool", *sys.argv[1:]]
started.append(True)
try:
    main()
except SystemExit:
    pass
print(all(frozen_at_collection), gc.isenabled(), gc.get_freeze_count() > 0)
"""


def test_start_up_runs_without_the_garbage_collector_and_work_runs_with_it(tmp_path):
    """Start-up's ~10^5 objects live as long as the process: the collector, which scanned
    them dozens of times per call (~30 ms of CPU), is off until the batch starts, then on
    again with start-up's objects frozen out of its scans."""
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), np.zeros((8, 8, 3), np.uint8))
    done = subprocess.run([sys.executable, "-c", _GC_PROBE, "filter", str(src), "-n", "box",
                           "-o", str(tmp_path / "out.png")], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.split() == ["True", "True", "True"], done.stderr


_IN_PROCESS_FILTER = """
import os, sys
from typer.testing import CliRunner
from cvtool.cli.app import app
result = CliRunner().invoke(app, ["filter", sys.argv[1], "-n", "box", "-o", sys.argv[2]])
print(result.exit_code, os.environ.get("OPENBLAS_NUM_THREADS", "unset"))
"""


def test_filter_run_in_a_programs_own_process_leaves_its_blas_threads_alone(tmp_path):
    """A program that runs the filter command in its own process (CliRunner) before loading
    NumPy keeps its BLAS threads: only the cvtool process itself starts BLAS on one thread
    (the variable would also reach every child process the program starts)."""
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), np.zeros((8, 8), np.uint8))
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    run = subprocess.run([sys.executable, "-c", _IN_PROCESS_FILTER, str(src),
                          str(tmp_path / "out.png")],
                         capture_output=True, text=True, timeout=60, env=env)
    assert run.stdout.split() == ["0", "unset"], run.stderr
