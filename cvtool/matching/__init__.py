"""Template matching: score maps (ZNCC) and the search over them (scales, peaks, suppression)."""

from cvtool.matching.core import (
    MAX_SCALES,
    Match,
    PreparedTemplate,
    SearchResult,
    find,
    parse_scales,
    prepare_template,
    search,
    zncc,
)

__all__ = ["MAX_SCALES", "Match", "PreparedTemplate", "SearchResult", "find", "parse_scales",
           "prepare_template", "search", "zncc"]
