"""The public API: every name in ``cvtool.__all__`` resolves, lazily, to its defining module."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import cvtool


@pytest.mark.parametrize("name", cvtool.__all__)
def test_every_public_name_resolves(name):
    """A name listed in __all__ but defined nowhere would break ``from cvtool import *``."""
    assert getattr(cvtool, name) is not None


@pytest.mark.parametrize(("name", "module"), sorted(cvtool._LAZY.items()))
def test_public_names_are_the_defining_modules_own(name, module):
    """cvtool.softmax is the function of its module, not a copy or a transitional alias."""
    assert getattr(cvtool, name) is getattr(importlib.import_module(module), name)
    assert name in cvtool.__all__


def test_import_cvtool_loads_neither_numpy_nor_opencv():
    """``import cvtool`` (what --version and completion pay for) stays free of NumPy and cv2."""
    code = "import sys, cvtool; print('numpy' in sys.modules, 'cv2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "False"]
