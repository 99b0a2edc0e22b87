"""Template matching: score maps apart from the search over them.

- :mod:`cvtool.matching.zncc_map`: the ZNCC score map, and templates prepared once for many
  scenes;
- :mod:`cvtool.matching.window_sums`: exact sums over every window (the ZNCC denominator);
- :mod:`cvtool.matching.peaks`: matches picked from score maps, non-maximum suppression;
- :mod:`cvtool.matching.search`: scales, coarse-to-fine pyramid, ``search`` and ``find``, for
  any score map given as ``score=`` (ZNCC by default);
- :mod:`cvtool.matching.masked`: ZNCC where only the pixels a mask marks vote;
- :mod:`cvtool.matching.robust`: finding another drawing of the template's character.
"""

from cvtool.matching.peaks import Match
from cvtool.matching.search import (
    MAX_SCALES,
    ScoreMap,
    Scorer,
    SearchResult,
    check_scales,
    find,
    search,
)
from cvtool.matching.zncc_map import ZNCC, PreparedTemplate, prepare_template, zncc

__all__ = ["MAX_SCALES", "Match", "PreparedTemplate", "ScoreMap", "Scorer", "SearchResult", "ZNCC",
           "check_scales", "find", "prepare_template", "search", "zncc"]
