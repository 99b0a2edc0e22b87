"""Template matching: score maps apart from the search over them.

- :mod:`cvtool.matching.zncc_map`: the ZNCC score map, and templates prepared once for many
  scenes;
- :mod:`cvtool.matching.window_sums`: exact sums over every window (the ZNCC denominator);
- :mod:`cvtool.matching.peaks`: matches picked from score maps, non-maximum suppression;
- :mod:`cvtool.matching.search`: scales, coarse-to-fine pyramid, ``search`` and ``find``, for
  any score map given as ``score=`` (ZNCC by default).
"""

from cvtool.matching.peaks import Match
from cvtool.matching.scales_text import parse_scales  # TRANSITIONAL: until cli/grammar.py has it
from cvtool.matching.search import MAX_SCALES, ScoreMap, Scorer, SearchResult, find, search
from cvtool.matching.zncc_map import ZNCC, PreparedTemplate, prepare_template, zncc

__all__ = ["MAX_SCALES", "Match", "PreparedTemplate", "ScoreMap", "Scorer", "SearchResult", "ZNCC",
           "find", "parse_scales", "prepare_template", "search", "zncc"]
