"""TRANSITIONAL: the old home of the entropy functions, re-exporting their new modules.

:mod:`cvtool.measures.information` (probability vectors and logits) and
:mod:`cvtool.measures.image_entropy` (histograms, image and local entropy) hold the code; this
module stays only while the CLI moves its imports, and is then deleted.
"""

from cvtool.measures.image_entropy import *  # noqa: F403
from cvtool.measures.image_entropy import __all__ as _image_all
from cvtool.measures.information import *  # noqa: F403
from cvtool.measures.information import __all__ as _information_all

__all__ = [*_information_all, *_image_all]
