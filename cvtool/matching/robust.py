"""Robust matching: find another drawing of the template's character, not only an exact copy.

``find_robust`` looks for the template's *character* in another pose, 0.5–2× its size,
turned up to ±20°, partly hidden, blurred or colour-shifted, among look-alikes (on the
rendered benchmark in ``benchmarks/bench_robust.py`` a character 20–40 % hidden, or blurred
and recompressed, is still the hardest case). How:

1. **Mask.** Only the character votes: the template's alpha where it has one, otherwise
   the plain background around it (the colour of its border, where the border is plain,
   grown inwards from the border) is cut away (:func:`character_mask`). The template's
   outermost ring of pixels never votes: its gradient would need pixels beyond it.
2. **Features** that survive lighting and colour casts, per pixel: the logarithms of R, G
   and B in an opponent basis (red–green, blue–yellow, log brightness: a gain on a channel
   becomes an offset, which each window's mean removal cancels: wholly for brightness, by
   half for colour, :data:`COLOUR_CENTRING`, so that a figure of another hue still differs)
   and the gradient energy of log brightness (our Sobel filters, through
   :func:`cvtool.correlate`) in 4 orientation bins, whitened against generic backgrounds
   (:data:`FEATURE_WHITENING`, a discriminative correlation). Features are averaged over
   square *cells*; the template's character spans :data:`CELL_ROWS` cells from top to
   bottom, so at scale ``s`` a scene cell is ``s`` times the template's.
3. **Parts and views.** The character's mask is cut into :data:`BANDS` (for a figure:
   hat, face, torso with arms, legs), each band whole and in halves left and right. A
   *view* (:data:`VIEWS`) is a set of parts seen: the whole character, one side of it, or
   all but the legs (the rest hidden behind something). In each view each part is scored
   by a masked ZNCC of the cell features (template and window centred on the mean over
   what the view sees, colour by half, so the cover does not shift it; one normalisation
   per part), may move one cell from where the whole figure puts it (deformation), and
   counts only when positive. A view's score is ``sum(weight_p * max(0, zncc_p))`` with
   its weights scaled to sum to 1, times ``1 - HIDDEN_COST * (share of the weights left
   out)``; the score is the best view's. It lies in [0, 1] and an exact copy scores 1.
   The weights (the hat counts most: it is what look-alikes lack) were chosen on the
   benchmark's development split.
4. **Search, coarse to fine.** Every scale (geometric, ratio :data:`SCALE_STEP`) and angle
   (every :data:`ANGLE_STEP` degrees) is scored on the cell grid by masked correlations by
   FFT of the whole figure and of all but the legs, and, in a pool of their own, of each
   side (:data:`SIDE_VIEWS`); the best places (:func:`_nominate`) are then re-scored by
   parts at half-cell offsets, half a scale step and half an angle step around them (at
   the best scale also a whole angle step aside, and against the template blurred,
   :data:`TEMPLATE_BLURS`, for blurred scenes); the best few are aligned to the pixel at
   quarter scale steps and half an angle step aside, each angle's best grid moving to
   where its parts went (:data:`FOLLOW_STEPS`); one non-maximum suppression over
   everything keeps the best of overlapping boxes.
5. **Head check** (:mod:`cvtool.matching.robust_head`). The candidates of the second round
   are scored once more on their head (hat and face, where the glasses and the hat's
   stripes are) on cells half as large, and the score reported is
   ``(1 - HEAD_WEIGHT) * parts + HEAD_WEIGHT * head``: look-alikes dressed like the
   character score lower there (a twin in his hat, glasses and stripes in another colour
   only a little), a character hidden on one side keeps his visible half.

Scores below :data:`DEFAULT_THRESHOLD` (chosen on the development split of the
benchmark in ``benchmarks/bench_robust.py``) are not reported.
"""

from __future__ import annotations

# (Names imported with noqa below are re-exported: the matcher's constants and feature
# helpers stay reachable where its story is told.)
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from cvtool.errors import ProcessingError, UsageError
from cvtool.filtering import correlate
from cvtool.filtering.blas import one_thread
from cvtool.filtering.kernels import gaussian_kernel
from cvtool.imaging.color import full_scale, split_alpha
from cvtool.imaging.fft import smooth_size
from cvtool.imaging.resample import pyramid_down, resize
from cvtool.matching import Match, SearchResult
from cvtool.matching.robust_features import CENTRING as _CENTRING
from cvtool.matching.robust_features import (
    COLOUR_CENTRING,  # noqa: F401
    FEATURE_WHITENING,  # noqa: F401
    FLAT_ENERGY,
    GRADIENT_FLOOR,  # noqa: F401
    LOG_OFFSET,  # noqa: F401
    cell_features,
    pixel_features,
)
from cvtool.matching.robust_features import cell_bounds as _bounds
from cvtool.matching.robust_features import centring_matrix as _centring_matrix  # noqa: F401
from cvtool.matching.robust_features import grid_means as _grid_means
from cvtool.matching.robust_features import integral as _integral
from cvtool.matching.robust_features import lattice_means as _lattice_means
from cvtool.matching.robust_features import rotate as _rotate
from cvtool.matching.robust_head import (
    HEAD_BLURS,
    HEAD_CELL,  # noqa: F401
    HEAD_REACH,  # noqa: F401
    HEAD_WEIGHT,
    Head,
    head_score,
    make_head,
)
from cvtool.threads import map_threads, resolve_workers

__all__ = ["DEFAULT_THRESHOLD", "find_robust", "robust_score_map", "character_mask",
           "RobustTemplate", "prepare_robust", "DEFAULT_SCALES", "DEFAULT_ANGLES"]

#: Least score reported by default, chosen on the benchmark's development split (12 scenes
#: per condition, with the head check and the side views' nominations: the least
#: threshold with no report on a Waldo-free development scene);
#: ``python -m benchmarks.bench_robust --split dev --sweep 0.7:0.9:0.01`` shows the
#: development figures around it.
DEFAULT_THRESHOLD = 0.78
#: The template's masked character spans this many cells from top to bottom.
CELL_ROWS = 16
#: Ratio between neighbouring scales of the default search.
SCALE_STEP = 2 ** 0.25
#: Default scales: 0.5 to 2 in steps of ``SCALE_STEP`` (9 scales).
DEFAULT_SCALES = tuple(round(0.5 * SCALE_STEP ** i, 12) for i in range(9))
#: Degrees between the angles of the coarse search; refinement looks half a step aside
#: (and, at the best scale, a whole step aside).
ANGLE_STEP = 10.0
#: Default angles of the coarse search (degrees, counter-clockwise).
DEFAULT_ANGLES = (-20.0, -10.0, 0.0, 10.0, 20.0)
#: Bands of the character, top to bottom, as fractions of the mask's height (for a
#: figure: hat, face with glasses, torso with arms, legs). Each band is a part, and so is
#: each of its halves left and right of the character's centre of mass.
BANDS = (("hat", 0.0, 0.19), ("face", 0.19, 0.34), ("torso", 0.34, 0.62), ("legs", 0.62, 1.0))
#: Views: which parts count, with what weight, when the character is seen whole or partly
#: hidden behind something (one side, or the lower part). A part is ``band`` (the whole
#: band), ``band<`` (its left half) or ``band>`` (its right half). The head (hat and face)
#: counts in every view: without it nothing tells the character from a look-alike. The
#: weights were chosen on the benchmark's development split (a grid over the hat, face,
#: torso and legs shares and HIDDEN_COST; that grid is not in the repository). The views assume
#: a cover from one side or from below: a cover over the head hides what tells the
#: character from a look-alike.
VIEWS = ({"hat": 0.55, "face": 0.2, "torso<": 0.075, "torso>": 0.075, "legs<": 0.05,
          "legs>": 0.05},
         {"hat>": 0.275, "face>": 0.1, "torso>": 0.075, "legs>": 0.05},
         {"hat<": 0.275, "face<": 0.1, "torso<": 0.075, "legs<": 0.05},
         {"hat": 0.55, "face": 0.2, "torso<": 0.075, "torso>": 0.075})
#: The coarse search correlates the character as seen by each of these views (indices
#: into VIEWS: whole, and all but the legs) and keeps the better at each place: a cover
#: over the legs spoils the whole-figure correlation before the parts can look.
COARSE_VIEWS = (0, 3)
#: The coarse search also correlates the character as seen by each of these views (one
#: side of him, head included: indices into VIEWS) and keeps the SIDE_CANDIDATES_PER_MEGAPIXEL
#: best places they find, apart from the nominees of COARSE_VIEWS, in a pool of their own: a
#: character hidden on one side (a sign over half his head, a bush, a person in front)
#: scores too low on the whole figure to be nominated, while in one pool with them the side
#: views' many half-figure maxima on look-alikes would crowd out the whole-figure nominees.
SIDE_VIEWS = (1, 2)
SIDE_CANDIDATES_PER_MEGAPIXEL = 40
#: A view that leaves out a share ``u`` of the weights has its score multiplied by
#: ``1 - HIDDEN_COST * u``: seeing less is weaker evidence.
HIDDEN_COST = 0.1
#: Border pixels within this distance (fraction of full scale, per channel) of the border's
#: median colour count as plain background; the border is plain when most of it is.
BACKGROUND_TOLERANCE = 0.06
PLAIN_BORDER_SHARE = 0.6
#: Candidates refined per 1600×1200 pixels of scene (more in larger scenes).
CANDIDATES_PER_MEGAPIXEL = 120
#: What moving a part by one cell costs (times the squared shift), against its score.
DEFORMATION_COST = 0.02
#: Steps per cell of the grid offsets when the best candidates are searched again at
#: nearby scales and angles (the last round then aligns the best few to the pixel).
FINE_LATTICE = 2
#: When the last round's best grid at an angle lies at the edge of the offsets scanned,
#: or its parts have all moved away, it looks again where they went, at most this many
#: times.
FOLLOW_STEPS = 3
#: Candidates (beyond ``top_k``) searched again at nearby scales and angles.
REFINED_CANDIDATES = 16
#: The template is also tried blurred by each of these Gaussian sigmas (template pixels)
#: when the best candidates are refined: a blurred scene has lost the stripes' and the
#: glasses' edges, and compared with a blurred template it loses less.
TEMPLATE_BLURS = (0.0, 1.5)


def _rgb01(image: np.ndarray, name: str) -> np.ndarray:
    """``image`` (gray or colour, alpha dropped) as H×W×3 float32 on the 0..1 scale."""
    image = np.asarray(image)
    if image.ndim not in (2, 3) or image.shape[0] == 0 or image.shape[1] == 0:
        raise ProcessingError(f"{name} must be a non-empty 2-D or 3-D array, got shape "
                              f"{image.shape}", parameter=name)
    if image.dtype.kind not in "uif":
        raise ProcessingError(f"{name} must hold real numbers, got {image.dtype}",
                              parameter=name)
    colour, _ = split_alpha(image)
    if colour.ndim == 2:
        colour = colour[:, :, None]
    if colour.shape[2] == 1:
        colour = np.repeat(colour, 3, axis=2)
    if colour.shape[2] != 3:
        raise ProcessingError(f"{name} must be gray or RGB(A), got {colour.shape[2]} channels",
                              parameter=name)
    scale = full_scale(image.dtype)
    if image.dtype.kind == "f":
        if not np.isfinite(colour).all():
            raise ProcessingError(f"{name} contains NaN or infinite values", parameter=name)
        top = float(np.max(colour)) if colour.size else 1.0
        scale = 1.0 if top <= 1.0 else (255.0 if top <= 255.0 else 65535.0)
    out = colour.astype(np.float32)
    out *= np.float32(1.0 / scale)
    return np.clip(out, 0.0, 1.0, out=out)


def character_mask(template: np.ndarray) -> np.ndarray:
    """Where the template's character is, as weights in [0, 1].

    The alpha channel when there is one; otherwise 0 on the plain background connected to
    the border (pixels within ``BACKGROUND_TOLERANCE`` of the border's median colour,
    reached from the border through such pixels) and 1 elsewhere; all ones when the border
    is not plain (an exact crop of a busy scene, say).

    Examples
    --------
    >>> t = np.full((6, 5, 3), 128, np.uint8); t[2:5, 1:4] = (200, 30, 30)
    >>> character_mask(t).astype(int).tolist()[1:5]
    [[0, 0, 0, 0, 0], [0, 1, 1, 1, 0], [0, 1, 1, 1, 0], [0, 1, 1, 1, 0]]
    """
    template = np.asarray(template)
    colour, alpha = split_alpha(template)
    if alpha is not None:
        weights = alpha.astype(np.float64) / full_scale(template.dtype)
        return np.clip(weights, 0.0, 1.0)
    rgb = _rgb01(template, "template")
    h, w = rgb.shape[:2]
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    median = np.median(border, axis=0)
    near = np.abs(rgb - median).max(axis=2) <= BACKGROUND_TOLERANCE
    border_near = np.concatenate([near[0], near[-1], near[:, 0], near[:, -1]])
    if border_near.mean() < PLAIN_BORDER_SHARE:
        return np.ones((h, w))
    # Grow the background from the border through near pixels (4-connected).
    reached = np.zeros((h, w), bool)
    reached[0], reached[-1], reached[:, 0], reached[:, -1] = near[0], near[-1], near[:, 0], \
        near[:, -1]
    while True:
        grown = reached.copy()
        grown[1:] |= reached[:-1]
        grown[:-1] |= reached[1:]
        grown[:, 1:] |= reached[:, :-1]
        grown[:, :-1] |= reached[:, 1:]
        grown &= near
        if (grown == reached).all():
            break
        reached = grown
    mask = (~reached).astype(np.float64)
    if mask.sum() < 4:
        return np.ones((h, w))
    return mask


@dataclass
class _Pose:
    """The template turned by one angle, as cell features and part weights.

    ``features`` (rows × cols × 7), ``parts`` (P × rows × cols: each cell's share of the
    character in each part), ``zero`` (P × rows × cols × 7: the features minus the whole
    character's weighted mean, times the part weights), ``energy`` (P: weighted energy of
    each part), and ``box``: the grid's height and width in pixels of the rotated template;
    the other fields are derived for the scans (see their comments).
    """

    angle: float
    features: np.ndarray
    parts: np.ndarray
    zero: np.ndarray
    energy: np.ndarray
    box: tuple[float, float]  # height, width of the grid in template pixels
    coarse: tuple = ()  # per coarse view: (weights, centred features, energy, their sum)
    slot_part: np.ndarray = None  # K: the part of each slot (one part in one view)
    slot_view: np.ndarray = None  # K: the view of each slot
    numerators: np.ndarray = None  # (rows·cols·7) × P: the centred parts, for numerators
    cells: np.ndarray = None  # (rows·cols) × P: the part weights, for sums and squares
    zero_sums: np.ndarray = None  # P × 7: each part's centred template, summed
    seen: np.ndarray = None  # V × P: which parts each view sees
    extent: tuple[float, float] = (0.0, 0.0)  # height, width of the character (the grid
    # starts at its top-left corner and may reach up to a cell beyond its other sides)
    mean: np.ndarray = None  # C: the whole character's mean features (zero is about it)

    def __post_init__(self) -> None:
        p, rows, cols = self.parts.shape
        channels = self.features.shape[2]
        self.numerators = self.zero.reshape(p, rows * cols * channels).T.copy()
        self.cells = self.parts.reshape(p, rows * cols).T.copy()
        self.zero_sums = self.zero.sum(axis=(1, 2))  # P × C
        self.seen = np.zeros((int(self.slot_view.max()) + 1, p))
        self.seen[self.slot_view, self.slot_part] = 1.0
        # What _part_scores needs of the template alone, once per pose (see there).
        part, view = self.slot_part, self.slot_view
        self.part_n = self.parts.sum(axis=(1, 2))  # P
        self.view_n = self.seen @ self.part_n  # V
        # Each view centres the template on (a share of) its own mean: t - mean_v @ Q.
        shift = ((self.seen @ self.zero_sums / self.view_n[:, None] + self.mean) @ _CENTRING
                 - self.mean)  # V × C
        self.slot_zero, self.slot_shift = self.zero_sums[part], shift[view]  # K × C
        self.slot_n = self.part_n[part]
        self.slot_t_energy = (self.energy[part]
                              - 2 * np.einsum("kc,kc->k", self.slot_zero, self.slot_shift)
                              + self.slot_n * np.einsum("kc,kc->k", self.slot_shift,
                                                        self.slot_shift))


class RobustTemplate:
    """A template made ready for :func:`find_robust` (mask, parts and features per angle).

    Build it once with :func:`prepare_robust` to search many scenes for the same template.
    """

    def __init__(self, template: np.ndarray) -> None:
        template = np.asarray(template)
        rgb = _rgb01(template, "template")
        mask = character_mask(template)
        if mask.max() <= 0.5:
            raise ProcessingError("template has no pixel of its character (alpha is all 0)",
                                  parameter="template")
        # The template's outermost pixels have no neighbours beyond, so their gradient
        # (a Sobel needs them) is not what the scene has there: where the character reaches
        # the template's border (an exact crop, say), that ring does not vote, and the grid
        # of cells starts inside it. Without this an exact crop of a textured scene scored
        # 0.93-0.99 where it lies. The ring is added back to the box reported (``margin``).
        touching = (mask[0].max() > 0.5, mask[:, 0].max() > 0.5, mask[-1].max() > 0.5,
                    mask[:, -1].max() > 0.5)
        if min(mask.shape) > 4:
            mask = mask.copy()
            mask[[0, -1]] = 0.0
            mask[:, [0, -1]] = 0.0
        else:
            touching = (False,) * 4
        rows = np.nonzero(mask.max(axis=1) > 0.5)[0]
        cols = np.nonzero(mask.max(axis=0) > 0.5)[0]
        if rows.size == 0:
            raise ProcessingError("template has no pixel of its character inside its border",
                                  parameter="template")
        # Template pixels outside the grid that belong to the character's box: (top,
        # left, bottom, right), 1 where the character reaches that border.
        self.margin = tuple(int(t) for t in touching)
        self.size = template.shape[:2]
        self.rgb, self.mask = rgb, mask
        top, bottom = int(rows[0]), int(rows[-1]) + 1
        left, right = int(cols[0]), int(cols[-1]) + 1
        self.bbox = (top, left, bottom - top, right - left)
        self.cell = (bottom - top) / CELL_ROWS
        if self.cell < 1.0:
            self.cell = 1.0
        # Part masks: bands of the character's height, whole or cut in halves side by side
        # (about the character's centre of mass): a hidden side costs only its half.
        yy = (np.arange(mask.shape[0]) + 0.5 - top) / (bottom - top)
        centre = float((mask.sum(axis=0) * np.arange(mask.shape[1])).sum() / mask.sum())
        left_of = (np.arange(mask.shape[1]) < centre)[None, :]
        sides = {"": True, "<": left_of, ">": ~left_of}
        bands = {}
        for index, (name, start, end) in enumerate(BANDS):
            bands[name] = ((yy >= start) & ((yy < end) | (index == len(BANDS) - 1)))[:, None]
        names: list[str] = []
        for view in VIEWS:
            names += [n for n in view if n not in names]
        masks = []
        for name in names:
            band = name.rstrip("<>")
            masks.append(np.broadcast_to(bands[band], mask.shape) & sides[name[len(band):]])
        self.part_names = tuple(names)
        self.part_masks = np.stack(masks) * mask[None]
        self.n_parts = len(names)
        # Slot k is one part in one view: its part, its view, and its weight in that view's
        # score (the view's weights scaled to sum to 1, times the view's hidden cost).
        self.slot_part = np.array([names.index(n) for view in VIEWS for n in view])
        self.slot_view = np.array([v for v, view in enumerate(VIEWS) for _ in view])
        full = sum(VIEWS[0].values())
        slot_weight = []
        for view in VIEWS:
            seen = sum(view.values())
            factor = (1.0 - HIDDEN_COST * (1.0 - seen / full)) / seen
            slot_weight += [w * factor for w in view.values()]
        self.slot_matrix = np.zeros((len(self.slot_part), len(VIEWS)))
        self.slot_matrix[np.arange(len(self.slot_part)), self.slot_view] = slot_weight
        self.fill = np.median(np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]), axis=0)
        self._poses: dict[tuple[float, float], _Pose] = {}
        self._blurred: dict[float, np.ndarray] = {0.0: rgb}
        self._heads: dict[float, Head | None] = {}

    def pose(self, angle: float, blur: float = 0.0) -> _Pose:
        """The template's cell features turned by ``angle`` degrees, its colours blurred by
        a Gaussian of sigma ``blur`` pixels first (cached)."""
        key = (round(float(angle), 6), float(blur))
        found = self._poses.get(key)
        if found is None:
            found = self._poses.setdefault(key, self._make_pose(*key))
        return found

    def head(self, angle: float) -> Head | None:
        """The template's head turned by ``angle`` degrees, for the head check (cached);
        ``None`` when there is nothing to check: no fine cell mostly inside the head (a
        head smaller than a cell, or thin or sparse), or a flat head."""
        key = round(float(angle), 6)
        if key not in self._heads:
            self._heads[key] = self._make_head(key)
        return self._heads[key]

    def _blurred_rgb(self, blur: float) -> np.ndarray:
        rgb = self._blurred.get(blur)
        if rgb is None:
            rgb = correlate(self.rgb, gaussian_kernel(sigma=blur), padding="clamp")
            rgb = self._blurred.setdefault(blur, rgb.astype(np.float32))
        return rgb

    def _turned(self, angle: float, blur: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The template's colours (blurred first), mask and part masks turned by ``angle``."""
        stack = np.concatenate([self._blurred_rgb(blur).astype(np.float64),
                                self.mask[..., None], np.moveaxis(self.part_masks, 0, 2)],
                               axis=2)
        fill = np.concatenate([self.fill, np.zeros(1 + self.n_parts)])
        turned = _rotate(stack, angle, fill)
        return turned[..., :3].astype(np.float32), turned[..., 3], turned[..., 4:]

    def _make_head(self, angle: float) -> Head | None:
        return make_head([self._turned(angle, blur) for blur in HEAD_BLURS], self.part_names,
                         self.cell)

    def _make_pose(self, angle: float, blur: float) -> _Pose:
        rgb, mask, parts = self._turned(angle, blur)
        rows = np.nonzero(mask.max(axis=1) > 0.5)[0]
        cols = np.nonzero(mask.max(axis=0) > 0.5)[0]
        top, left = rows[0], cols[0]
        n_rows = max(1, int(math.ceil((rows[-1] + 1 - top) / self.cell - 1e-9)))
        n_cols = max(1, int(math.ceil((cols[-1] + 1 - left) / self.cell - 1e-9)))
        span_h = n_rows * self.cell
        span_w = n_cols * self.cell
        feats = pixel_features(rgb)
        # Pad so that the grid's span lies inside (edge values; masked out anyway).
        need_h = int(math.ceil(top + span_h)) + 1 - feats.shape[0]
        need_w = int(math.ceil(left + span_w)) + 1 - feats.shape[1]
        if need_h > 0 or need_w > 0:
            pad = ((0, max(need_h, 0)), (0, max(need_w, 0)), (0, 0))
            feats = np.pad(feats, pad, mode="edge")
            parts = np.pad(parts, pad)
        ys = _bounds(np.array([top]), self.cell, n_rows, feats.shape[0])
        xs = _bounds(np.array([left]), self.cell, n_cols, feats.shape[1])
        cells = cell_features(_grid_means(_integral(feats), ys, xs)[0, 0])
        part_cells = _grid_means(_integral(parts), ys, xs)[0, 0]
        part_cells = np.moveaxis(part_cells, 2, 0)  # P × rows × cols
        # The whole character: the parts of the first view (which cover it once).
        whole = part_cells[self.slot_part[self.slot_view == 0]].sum(axis=0)
        # Parts are centred on the whole character's mean, not their own: the hat keeps
        # being redder than the rest of him (a part's own mean would forget that), while the
        # light, common to the whole window, still cancels (a colour cast by half: each
        # view's centring below removes COLOUR_CENTRING of the window's mean colour).
        whole_mean = np.einsum("ij,ijc->c", whole, cells) / max(whole.sum(), 1e-12)
        centred = cells - whole_mean
        zero = part_cells[..., None] * centred
        energy = np.einsum("pijc,ijc->p", zero, centred)
        coarse = []
        for view in COARSE_VIEWS + SIDE_VIEWS:
            seen = part_cells[self.slot_part[self.slot_view == view]].sum(axis=0)
            seen_zero, seen_energy = _zero_mean(cells, seen[None])
            # The window's mean (its share _CENTRING of it) is taken out on the template's
            # side: sum(u (x - m Q)) = sum((u - w (sum(u) Q^T) / n) x), for any window.
            total = seen_zero[0].sum(axis=(0, 1))
            tzero = seen_zero[0] - seen[..., None] * (total @ _CENTRING.T) / seen.sum()
            coarse.append((seen, tzero, float(seen_energy[0]), tzero.sum(axis=(0, 1))))
        return _Pose(angle, cells, part_cells, zero, energy, (span_h, span_w), tuple(coarse),
                     self.slot_part, self.slot_view,
                     extent=(float(rows[-1] + 1 - top), float(cols[-1] + 1 - left)),
                     mean=whole_mean)


def _zero_mean(cells: np.ndarray, parts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each part weight map: weights × (features − the share ``_CENTRING`` of their
    weighted mean), and the energy."""
    cells = cells.astype(np.float64)
    n = parts.sum(axis=(1, 2))[:, None]  # P × 1
    means = np.einsum("pij,ijc->pc", parts, cells) / np.maximum(n, 1e-12) @ _CENTRING
    centred = cells[None] - means[:, None, None, :]
    zero = parts[..., None] * centred
    energy = np.einsum("pijc,pijc->p", zero, centred)
    return zero, energy


def prepare_robust(template: np.ndarray | RobustTemplate) -> RobustTemplate:
    """Check and prepare a template once for many scenes (see :class:`RobustTemplate`).

    Examples
    --------
    >>> t = np.full((40, 20, 3), 128, np.uint8); t[4:36, 5:15] = (200, 30, 30)
    >>> prepare_robust(t).bbox
    (4, 5, 32, 10)
    """
    if isinstance(template, RobustTemplate):
        return template
    return RobustTemplate(template)


# --- the scene side -------------------------------------------------------------------------

@dataclass
class _Candidate:
    score: float
    scale: float
    angle: float
    y: float  # top-left of the grid, scene pixels
    x: float
    parts: tuple = ()  # each part's score (after its move), once refined
    blur: float = 0.0  # the template's blur (see TEMPLATE_BLURS)


def _check_scales(scales: Sequence[float] | None) -> list[float]:
    if scales is None:
        return list(DEFAULT_SCALES)
    values = [float(s) for s in scales]
    if not values:
        raise UsageError("scales needs at least one factor", parameter="scales")
    for value in values:
        if not (math.isfinite(value) and value > 0):
            raise UsageError(f"scales: every factor must be a positive number, got {value}",
                             parameter="scales")
    return sorted(set(values))


def _cell_maps(features: np.ndarray | list[np.ndarray], cell: float,
               ) -> tuple[np.ndarray, float, float]:
    """Scene features averaged over cells of ``cell`` pixels: the map and its cell sizes.

    ``features`` may be a pyramid (full size, then halved, ...): cells of at least 4
    pixels are averaged from a halved level (each cell still spans 2 or more of its
    pixels), which is 4 times less work.
    """
    levels = features if isinstance(features, list) else [features]
    h, w = levels[0].shape[:2]
    rows, cols = max(1, int(round(h / cell))), max(1, int(round(w / cell)))
    level = 0
    while level + 1 < len(levels) and cell >= 2 ** (level + 2):
        level += 1
    source = levels[level]
    return cell_features(resize(source, (rows, cols))), h / rows, w / cols


def _whole_scores(maps: np.ndarray, poses: list[_Pose], workers: int,
                  whole_only: bool = False) -> list[np.ndarray]:
    """Coarse score of each pose at every cell: the best of the :data:`COARSE_VIEWS`
    (only the whole character with ``whole_only``), see :func:`_coarse_scores`."""
    group = (0,) if whole_only else tuple(range(len(COARSE_VIEWS)))
    return [None if g is None else g[0]
            for g in _coarse_scores(maps, poses, workers, (group,))]


def _coarse_scores(maps: np.ndarray, poses: list[_Pose], workers: int,
                   groups: Sequence[Sequence[int]]) -> list[list[np.ndarray] | None]:
    """Coarse scores of each pose at every cell, one map per group of coarse views (indices
    into ``pose.coarse``: :data:`COARSE_VIEWS`, then :data:`SIDE_VIEWS`), each the best
    of its group's views; ``None`` for a pose larger than the map. A view's score is the
    masked correlation of the character as that view sees him.

    The numerator is exact: the template side carries the window's partial centring (it
    sums to ``zsum``, no longer 0, so the maps' centring on the scene mean is added back
    as a constant). The window's energy is taken about the scene's mean rather than about
    its own partly removed mean, so the score is only an approximation (it may exceed 1
    where template and window share a colour offset): it nominates candidates, which are
    then re-scored exactly by parts.
    """
    rows, cols, channels = maps.shape
    fits = [p.features.shape[0] <= rows and p.features.shape[1] <= cols for p in poses]
    if not any(fits):
        return [None] * len(poses)
    fh, fw = smooth_size(rows), smooth_size(cols)
    scene_mean = maps.mean(axis=(0, 1))
    centred = (maps - scene_mean).astype(np.float32)
    spectra = np.fft.rfft2(centred, s=(fh, fw), axes=(0, 1))
    squares = np.fft.rfft2(np.einsum("ijc,ijc->ij", centred, centred), s=(fh, fw))

    def view(pose: _Pose, entry: int) -> np.ndarray:
        ph, pw = pose.features.shape[:2]
        weights, zero, t_energy, zsum = pose.coarse[entry]
        tspec = _small_rfft2(zero.astype(np.float32), fh, fw)
        num = np.fft.irfft2(np.einsum("ijc,ijc->ij", spectra, np.conj(tspec)), s=(fh, fw))
        wspec = _small_rfft2(weights.astype(np.float32), fh, fw)
        energy = np.fft.irfft2(squares * np.conj(wspec), s=(fh, fw))
        # (The maps are centred on the scene's mean; the template no longer sums to 0.)
        num = num[:rows - ph + 1, :cols - pw + 1] + float(scene_mean @ zsum)
        energy = energy[:rows - ph + 1, :cols - pw + 1]
        flat = energy <= FLAT_ENERGY * max(t_energy, 1e-12)
        score = num / np.sqrt(np.where(flat, 1.0, energy * t_energy))
        return np.where(flat, 0.0, score).astype(np.float32)

    def one(pose: _Pose) -> list[np.ndarray] | None:
        if pose.features.shape[0] > rows or pose.features.shape[1] > cols:
            return None
        return [np.maximum.reduce([view(pose, e) for e in group]) for group in groups]

    return map_threads(one, poses, workers)


def _small_rfft2(small: np.ndarray, fh: int, fw: int) -> np.ndarray:
    """``np.fft.rfft2(small, s=(fh, fw), axes=(0, 1))`` for an array much smaller than
    fh × fw: the rows are transformed before they are padded, so the zero rows cost
    nothing in the first pass; the columns, which have only ``len(small)`` non-zero
    entries, by a product with those columns of the DFT matrix (:func:`_dft_columns`).

    That product does about 3 times the arithmetic of an FFT of the padded columns but
    streams contiguous rows through a matrix product instead of transforming columns a
    row-length apart: on the development machine (AMD EPYC Zen 3, OpenBLAS 0.3.31, one
    BLAS thread) it took 0.35-0.5 of the FFT's time with its Haswell kernels and 0.6-0.9
    with SSE4.2-only ones (``OPENBLAS_CORETYPE=Nehalem``), for a relative difference of
    3e-7 (float32 rounding).
    """
    if len(small) > fh:
        raise ValueError(f"{len(small)} rows do not fit a transform of {fh}")
    rows = np.fft.rfft(small, n=fw, axis=1)
    dft = _dft_columns(fh, len(small), rows.dtype)
    # One product: the search runs with BLAS on one thread (find_robust, robust_score_map);
    # cut into blocks of a few rows it took twice as long.
    return (dft @ rows.reshape(len(small), -1)).reshape((fh,) + rows.shape[1:])


@functools.lru_cache(maxsize=128)
def _dft_columns(n: int, count: int, dtype: np.dtype) -> np.ndarray:
    """The first ``count`` columns of the ``n``-point DFT matrix, ``exp(-2πi k j / n)``
    (read-only)."""
    k = np.arange(n)[:, None] * np.arange(count)[None, :] % n
    out = np.exp(-2j * np.pi * k / n).astype(dtype)
    out.setflags(write=False)
    return out


def _local_maxima(score: np.ndarray, count: int, radius_y: int, radius_x: int,
                  ) -> list[tuple[float, int, int]]:
    """Up to ``count`` best positions of a map, each suppressing a box around it.

    Greedy: the best place not suppressed yet, first in row-major order among equals, as
    :func:`numpy.argmax` would take it from a map where every suppressed box is -inf.
    Only the best ``32 * count`` values are sorted, once, and walked in order (a place
    whose value is above all the rest is the best left once the better ones are taken or
    suppressed); if they run out first, the rest of the map is searched place by place.
    """
    out: list[tuple[float, int, int]] = []
    h, w = score.shape
    flat = score.ravel()
    blocked = np.zeros((h, w), bool)
    if np.isfinite(flat).all():
        keep = min(flat.size, 32 * count)
        if keep < flat.size:
            floor = np.partition(flat, flat.size - keep)[flat.size - keep]
            chosen = np.flatnonzero(flat > floor)
        else:
            chosen = np.arange(flat.size)
        for index in chosen[np.argsort(-flat[chosen], kind="stable")]:
            if len(out) >= count:
                return out
            y, x = divmod(int(index), w)
            if blocked[y, x]:
                continue
            value = float(flat[index])
            # Keep one place even in a flat scene, so that there is a best score (0) to report.
            if value <= 0 and out:
                return out
            out.append((value, y, x))
            blocked[max(0, y - radius_y):y + radius_y + 1, max(0, x - radius_x):x + radius_x + 1] \
                = True
        if keep == flat.size:
            return out
    work = np.where(blocked, -np.inf, score)
    while len(out) < count:
        flat_index = int(np.argmax(work))
        y, x = divmod(flat_index, work.shape[1])
        value = float(work[y, x])
        if not np.isfinite(value) or (value <= 0 and out):
            break
        out.append((value, y, x))
        work[max(0, y - radius_y):y + radius_y + 1, max(0, x - radius_x):x + radius_x + 1] = -np.inf
    return out


def _nominate(features: np.ndarray, template: RobustTemplate, scales: list[float],
              angles: Sequence[float], count: int, workers: int,
              side_count: int = 0) -> list[_Candidate]:
    """Coarse search over every scale and angle: the ``count`` best, mutually apart, places
    of the :data:`COARSE_VIEWS`, then the ``side_count`` best of the :data:`SIDE_VIEWS`
    apart from those and from each other."""
    poses = [template.pose(a) for a in angles]
    pyramid = [features]
    while len(pyramid) < 3 and min(pyramid[-1].shape[:2]) >= 64:
        pyramid.append(pyramid_down(pyramid[-1]))
    main = tuple(range(len(COARSE_VIEWS)))
    groups = (main,) if side_count <= 0 else \
        (main, tuple(range(len(main), len(main) + len(SIDE_VIEWS))))

    def one_scale(scale: float) -> list[list[_Candidate]]:
        cell = template.cell * scale
        out: list[list[_Candidate]] = [[] for _ in groups]
        if cell < 1.0:
            return out
        maps, cell_h, cell_w = _cell_maps(pyramid, cell)
        for pose, scores in zip(poses, _coarse_scores(maps, poses, 1, groups), strict=True):
            if scores is None:
                continue
            ph, pw = pose.features.shape[:2]
            for pool, score, wanted in zip(out, scores, (count, side_count), strict=False):
                for value, y, x in _local_maxima(score, wanted, max(1, ph // 3),
                                                 max(1, pw // 3)):
                    pool.append(_Candidate(value, scale, pose.angle, y * cell_h, x * cell_w))
        return out

    # One scale per thread, whole: a scale's cell map, its transforms and its maxima are
    # one job (by pose, 5 jobs on 2 threads left one thread idle, and the maps were serial).
    per_scale = map_threads(one_scale, scales, workers)
    boxes = np.empty((count + max(0, side_count), 4))  # x0, y0, x1, y1 of the kept
    kept: list[_Candidate] = []
    for pool, wanted in zip(zip(*per_scale, strict=True), (count, side_count), strict=False):
        found = sorted((c for per in pool for c in per), key=lambda c: -c.score)
        limit = len(kept) + wanted
        for cand in found:
            if len(kept) >= limit:
                break
            x, y, w, h = _box(template, cand)
            # By intersection over union, not over the smaller box: a small grid on a hidden
            # character's visible half must not suppress the grid of his own size around it.
            k = boxes[:len(kept)]
            dx = np.minimum(k[:, 2], x + w) - np.maximum(k[:, 0], x)
            dy = np.minimum(k[:, 3], y + h) - np.maximum(k[:, 1], y)
            inter = np.where((dx > 0) & (dy > 0), dx * dy, 0.0)
            union = (k[:, 2] - k[:, 0]) * (k[:, 3] - k[:, 1]) + w * h - inter
            if not np.any(inter > 0.5 * union):
                boxes[len(kept)] = (x, y, x + w, y + h)
                kept.append(cand)
    return kept


def _box(template: RobustTemplate, cand: _Candidate) -> tuple[float, float, float, float]:
    span_h, span_w = template.pose(cand.angle).box
    return cand.x, cand.y, span_w * cand.scale, span_h * cand.scale


def _overlap(a, b) -> float:
    """Intersection over the smaller box's area (the suppression rule of the ZNCC search)."""
    dx = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    dy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if dx <= 0 or dy <= 0:
        return 0.0
    return dx * dy / min(a[2] * a[3], b[2] * b[3])


def _part_scores(windows: np.ndarray, pose: _Pose) -> np.ndarray:
    """Masked correlation of each part of each view at each window: ``windows`` is
    (..., rows, cols, 7), the result (..., K) with one slot per part per view (views in
    order, each view's parts in order), in [-1, 1] (0 for windows flat after centring: a
    grey one; a flat coloured one keeps half its colour, :data:`COLOUR_CENTRING`, and may
    score above 0).

    In each view, template and window are both centred on the (weighted) mean of the
    parts that view sees, each channel apart (all of brightness and the orientation
    shares, :data:`COLOUR_CENTRING` of the colour; what hides the rest does not shift the
    mean), then each part's correlation is normalised over that part. Two matrix products
    do all the sums: the windows times one matrix give every part's numerator (about the
    template's whole-character mean) and per-channel sums, their squares times another
    every part's sum of squares; each view's centring is then applied to those sums.
    """
    lead = windows.shape[:-3]
    rows, cols, channels = windows.shape[-3:]
    x = np.ascontiguousarray(windows, dtype=np.float64).reshape(-1, rows * cols, channels)
    count = len(x)
    raw = _small_products(x.reshape(count, -1), pose.numerators)  # N × P
    # Per-part channel sums: the cells (as rows) times the part weights.
    by_cell = np.ascontiguousarray(x.transpose(0, 2, 1)).reshape(count * channels, -1)
    sums = _small_products(by_cell, pose.cells).reshape(count, channels, -1)
    sums = sums.transpose(0, 2, 1)  # N × P × C
    squares = _small_products(np.einsum("nkc,nkc->nk", x, x), pose.cells)  # N × P
    mean = np.einsum("vp,npc->nvc", pose.seen, sums) / pose.view_n[None, :, None] @ _CENTRING
    part, view = pose.slot_part, pose.slot_view
    slot_mean, slot_sums = mean[:, view], sums[:, part]  # N × K × C
    # The template's side, per slot: its centred sums and its view's mean (slot_shift).
    slot_zero, slot_shift, slot_n = pose.slot_zero, pose.slot_shift, pose.slot_n
    # sum(w (t - shift) (x - mean)) and the energies, from the sums about the template's
    # whole-character mean.
    num = (raw[:, part] - np.einsum("nkc,kc->nk", slot_mean, slot_zero)
           - np.einsum("nkc,kc->nk", slot_sums, slot_shift)
           + slot_n * np.einsum("nkc,kc->nk", slot_mean, slot_shift))
    energy = (squares[:, part] - 2 * np.einsum("nkc,nkc->nk", slot_sums, slot_mean)
              + slot_n * np.einsum("nkc,nkc->nk", slot_mean, slot_mean))
    t_energy = pose.slot_t_energy
    flat = (energy <= FLAT_ENERGY) | (t_energy <= FLAT_ENERGY)[None, :]
    score = num / np.sqrt(np.where(flat, 1.0, energy * np.maximum(t_energy, 1e-300)))
    score = np.where(flat, 0.0, np.clip(score, -1.0, 1.0))
    return score.reshape(lead + (-1,))


#: OpenBLAS runs a matrix product on one thread when m·n·k is below 4 × 65536
#: (``GEMM_MULTITHREAD_THRESHOLD`` × ``SMP_THRESHOLD_MIN`` in its interface/gemm.c). Our
#: products are small and already run on our own threads, one candidate each; waking
#: BLAS threads for them made the search 3× slower in CPU time on a busy 2-core machine.
_BLAS_SINGLE_THREAD_WORK = 4 * 65536


def _small_products(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` in row blocks small enough for BLAS to keep to the calling thread."""
    rows = max(1, _BLAS_SINGLE_THREAD_WORK // max(1, a.shape[1] * b.shape[1]))
    if len(a) <= rows:
        return a @ b
    out = np.empty((len(a), b.shape[1]))
    for start in range(0, len(a), rows):
        np.matmul(a[start:start + rows], b, out=out[start:start + rows])
    return out


#: Part shifts tried by the deformation, in cells, and what each costs.
_SHIFTS = np.array([-1.0, 0.0, 1.0])


def _combine(slots: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """The score from the slots' scores (last axis): each view's weighted sum of its parts'
    scores (clipped to [0, 1]), the best view's, in [0, 1]."""
    return (np.clip(slots, 0.0, 1.0) @ matrix).max(axis=-1)


class _Tables:
    """Summed-area tables of the scene's features over regions around one candidate, for
    its scans: a scan whose region lies inside the last table's reuses it (the table is
    made a quarter larger each side than the region that asked for it, unless ``grow`` is
    false: one scan only), so the scans of one refinement sum the pixels about once
    instead of once each. Outside the scene the features are extended by their edge
    values, as a crop padded there would be."""

    def __init__(self, features: np.ndarray, grow: bool = True) -> None:
        self.features = features
        self.grow = grow
        self.last: tuple | None = None  # (table, top, left, bottom, right) in scene pixels

    def covering(self, top: int, bottom: int, left: int, right: int,
                 ) -> tuple[np.ndarray, int, int]:
        """A table holding rows ``top..bottom`` and columns ``left..right`` (scene
        pixels, ends excluded, possibly outside the scene), and the scene pixel of its
        first row and column."""
        last = self.last
        if last is None or not (last[1] <= top and bottom <= last[3] and last[2] <= left
                                and right <= last[4]):
            grow_y, grow_x = ((bottom - top) // 4, (right - left) // 4) if self.grow else (0, 0)
            top, bottom, left, right = top - grow_y, bottom + grow_y, left - grow_x, \
                right + grow_x
            h, w = self.features.shape[:2]
            crop = self.features[max(top, 0):min(bottom, h), max(left, 0):min(right, w)]
            pad = ((max(0, -top), max(0, bottom - h)), (max(0, -left), max(0, right - w)),
                   (0, 0))
            if any(v for pair in pad[:2] for v in pair):
                crop = np.pad(crop, pad, mode="edge")
            self.last = last = (_integral(crop), top, left, bottom, right)
        return last[0], last[1], last[2]


def _scan(features: np.ndarray, template: RobustTemplate, pose: _Pose, scale: float,
          centre_y: float, centre_x: float, offsets: np.ndarray, shift: int | None = None,
          tables: _Tables | None = None,
          ) -> tuple[float, float, float, tuple, tuple[float, float]]:
    """Best parts score of ``pose`` at ``scale`` over grid offsets around a centre.

    The grid is centred on ``(centre_y, centre_x)`` and moved by every pair of
    ``offsets`` (pixels); at each place each part may also move one cell in any direction
    at :data:`DEFORMATION_COST` per squared cell. When ``offsets`` is a lattice whose
    step divides the cell (``shift`` steps per cell), the part moves are lattice moves and
    only the central offsets are anchors; otherwise every offset is an anchor and the
    moves are added to it. Returns ``(score, top, left, parts, drift)`` of the best grid
    (``score`` -1 when nothing fits): ``parts`` the score of each slot after its move,
    ``drift`` (rows, columns) the mean move of the best view's parts, in cells, each part
    weighted by its share of that view. ``tables`` lends summed-area tables to the scans
    of one candidate.
    """
    ph, pw = pose.features.shape[:2]
    cell = template.cell * scale
    top0 = centre_y - pose.box[0] * scale / 2
    left0 = centre_x - pose.box[1] * scale / 2
    if shift is None:
        # Whole-pixel offsets from a whole-pixel start, as the template's own grid starts.
        top0, left0 = float(round(top0)), float(round(left0))
        moves = (offsets[:, None] + _SHIFTS[None, :] * cell).ravel()  # offset-major
    else:
        moves = offsets
    y_lo = int(math.floor(top0 + moves.min())) - 1
    x_lo = int(math.floor(left0 + moves.min())) - 1
    y_hi = int(math.ceil(top0 + moves.max() + ph * cell)) + 2
    x_hi = int(math.ceil(left0 + moves.max() + pw * cell)) + 2
    h, w = features.shape[:2]
    if min(y_hi, h) <= max(y_lo, 0) or min(x_hi, w) <= max(x_lo, 0):
        return -1.0, top0, left0, (), (0.0, 0.0)
    if tables is None:
        tables = _Tables(features)
    table, y_lo, x_lo = tables.covering(y_lo, y_hi, x_lo, x_hi)
    size_y, size_x = table.shape[0] - 1, table.shape[1] - 1
    if shift is None:
        # A part moved by one cell sees the cells of the unmoved grid one cell along, so
        # each offset's grid is pooled once, a cell wider all round, and the nine moved
        # windows are views of it (a ninth of the cells to pool and turn into features).
        n = len(offsets)
        ys = _bounds(top0 - y_lo + offsets - cell, cell, ph + 2, size_y)
        xs = _bounds(left0 - x_lo + offsets - cell, cell, pw + 2, size_x)
        grids = cell_features(_grid_means(table, ys, xs))  # n × n × (ph+2) × (pw+2) × C
        s0, s1, s2, s3, s4 = grids.strides
        windows = np.lib.stride_tricks.as_strided(
            grids, (n, 3, n, 3, ph, pw, grids.shape[4]), (s0, s2, s1, s3, s2, s3, s4),
            writeable=False)
    else:
        # On a lattice of 1/shift cell, window k's cell i starts at lattice point
        # k + shift * i: every distinct cell is pooled once, and the windows are views.
        lattice = cell / shift
        n = len(offsets)
        points = (n - 1) + shift * (max(ph, pw) - 1) + 1
        starts_y = top0 - y_lo + offsets[0] + np.arange(points) * lattice
        starts_x = left0 - x_lo + offsets[0] + np.arange(points) * lattice
        ys = _bounds(starts_y[:n + shift * (ph - 1)], cell, 1, size_y)
        xs = _bounds(starts_x[:n + shift * (pw - 1)], cell, 1, size_x)
        cells = cell_features(_lattice_means(table, ys, xs))
        s0, s1, s2 = cells.strides
        windows = np.lib.stride_tricks.as_strided(
            cells, (n, n, ph, pw, cells.shape[2]), (s0, s1, shift * s0, shift * s1, s2),
            writeable=False)
    per_part = np.clip(_part_scores(windows, pose), 0.0, 1.0)
    if shift is None:
        n = len(offsets)
        per_part = per_part.reshape(n, 3, n, 3, -1)
        cost = DEFORMATION_COST * (_SHIFTS[:, None, None, None] ** 2
                                   + _SHIFTS[None, None, :, None] ** 2)
        best_part = (per_part - cost).max(axis=(1, 3))  # n × n × P
        anchors = offsets
    else:
        m = len(offsets) - 2 * shift
        best_part = np.full((m, m, per_part.shape[2]), -np.inf)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                moved = per_part[shift + dy * shift:shift + dy * shift + m,
                                 shift + dx * shift:shift + dx * shift + m]
                np.maximum(best_part, moved - DEFORMATION_COST * (dy * dy + dx * dx),
                           out=best_part)
        anchors = offsets[shift:shift + m]
    total = _combine(best_part, template.slot_matrix)
    iy, ix = np.unravel_index(int(np.argmax(total)), total.shape)
    # Where the best view's parts went from the best anchor (cells, weighted by their
    # share of the view): when they all moved the same way, the figure lies there.
    if shift is None:
        at = per_part[iy, :, ix].reshape(9, -1) - cost.reshape(9, 1)
    else:
        at = np.stack([per_part[shift + dy * shift + iy, shift + dx * shift + ix]
                       - DEFORMATION_COST * (dy * dy + dx * dx)
                       for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    chosen = np.argmax(at, axis=0)  # K: the move of each slot, dy-major over _SHIFTS
    view = int(np.argmax(np.clip(best_part[iy, ix], 0.0, 1.0) @ template.slot_matrix))
    weights = template.slot_matrix[:, view]
    drift = (weights @ _SHIFTS[chosen // 3] / weights.sum(),
             weights @ _SHIFTS[chosen % 3] / weights.sum())
    return (float(total[iy, ix]), top0 + anchors[iy], left0 + anchors[ix],
            tuple(float(v) for v in best_part[iy, ix]), drift)


def _refine(features: np.ndarray, template: RobustTemplate, cand: _Candidate,
            scale_factors: Sequence[float], angle_offsets: Sequence[float],
            lattice: int | None, blurs: Sequence[float] = (),
            far_angles: Sequence[float] = ()) -> _Candidate:
    """Best parts score near a candidate, at nearby scales and angles.

    With ``lattice`` = L, grid offsets of 1/L cell within ±1 cell of where the candidate
    was (parts moving on the same lattice); with ``None``, whole-pixel offsets within a
    quarter cell (to align an exact copy to the pixel). The template is taken as blurred
    as for the candidate. Then, at the best scale only, also at the candidate's angle plus
    each of ``far_angles``; then at the best scale and angle only, also blurred by each
    of ``blurs`` (a blurred template hardly moves the best place, so that costs one scan
    each).
    With ``None``, the best grid of each angle then climbs: when it lies at the edge of
    the offsets, or its best view's parts moved, on average, beyond them, whole-pixel
    offsets around where the parts went are scanned too (up to :data:`FOLLOW_STEPS`
    times, while the score rises): parts that all moved one cell the same way say the
    figure lies there, where it scores without paying for the moves.
    """
    box = _box(template, cand)
    centre_y, centre_x = box[1] + box[3] / 2, box[0] + box[2] / 2
    best = _Candidate(-1.0, cand.scale, cand.angle, cand.y, cand.x, blur=cand.blur)
    several = (len(scale_factors) * len(angle_offsets) > 1 or lattice is None or blurs
               or far_angles)
    tables = _Tables(features, grow=bool(several))
    # For the pixel round: the best scan of each angle, (value, scale, blur, centre, found).
    by_angle: dict[float, tuple] = {}

    def scan(scale: float, angle: float, blur: float, cy: float = centre_y,
             cx: float = centre_x) -> float:
        nonlocal best
        cell = template.cell * scale
        if cell < 1.0:
            return -math.inf
        if lattice is None:
            count = max(1, int(math.ceil(cell / 4)))
            offsets = np.arange(-count, count + 1, dtype=np.float64)
        else:
            offsets = np.arange(-2 * lattice, 2 * lattice + 1) * (cell / lattice)
        pose = template.pose(angle, blur)
        found = _scan(features, template, pose, scale, cy, cx, offsets, lattice, tables)
        value, top, left, parts, _ = found
        if value > best.score:
            best = _Candidate(value, scale, pose.angle, top, left, parts, blur)
        if lattice is None and value > by_angle.get(pose.angle, (-math.inf,))[0]:
            by_angle[pose.angle] = (value, scale, blur, (cy, cx), found)
        return value

    def climb(angle: float) -> None:
        # Where the best view's parts went from the angle's best grid: scan again around
        # there while that lies at or beyond the edge of the offsets scanned (_scan rounds
        # the start as here) and the score rises.
        value, scale, blur, (cy, cx), (_, top, left, _, drift) = by_angle[angle]
        cell = template.cell * scale
        count = max(1, int(math.ceil(cell / 4)))
        box_h, box_w = template.pose(angle, blur).box
        half_h, half_w = box_h * scale / 2, box_w * scale / 2
        for _ in range(FOLLOW_STEPS):
            aim_y, aim_x = top + drift[0] * cell, left + drift[1] * cell
            if max(abs(aim_y - round(cy - half_h)), abs(aim_x - round(cx - half_w))) \
                    < count - 0.5:
                return
            cy, cx = aim_y + half_h, aim_x + half_w
            if scan(scale, angle, blur, cy, cx) <= value:
                return
            value, _, _, _, (_, top, left, _, drift) = by_angle[angle]

    for factor in scale_factors:
        for delta in angle_offsets:
            # round: 1.0 stays 1.0, so cells are the template's.
            scan(round(cand.scale * factor, 12), cand.angle + delta, cand.blur)
    if best.score >= 0:
        scale = best.scale
        for delta in far_angles:
            scan(scale, cand.angle + delta, cand.blur)
        for blur in blurs:
            if blur != best.blur:
                scan(best.scale, best.angle, blur)
    for angle in list(by_angle):
        climb(angle)
    return best


def _head_score(rgb: np.ndarray, template: RobustTemplate, cand: _Candidate) -> float | None:
    """The head check of a candidate (:func:`cvtool.matching.robust_head.head_score`) at its
    scale and angle; ``None`` when the template's head has nothing to check."""
    head = template.head(cand.angle)
    return None if head is None else head_score(rgb, head, cand.y, cand.x, cand.scale)


def _with_head(rgb: np.ndarray, template: RobustTemplate, cands: list[_Candidate],
               workers: int) -> list[_Candidate]:
    """The candidates with their score combined with their head check (:data:`HEAD_WEIGHT`);
    unchanged where the template's head is too small to check."""
    for angle in sorted({c.angle for c in cands}):
        template.head(angle)  # made once here, not by two threads at once
    heads = map_threads(lambda c: _head_score(rgb, template, c), cands, workers)
    return [c if h is None else
            replace(c, score=(1.0 - HEAD_WEIGHT) * c.score + HEAD_WEIGHT * max(0.0, h))
            for c, h in zip(cands, heads, strict=True)]


def _unchecked(template: RobustTemplate, cand: _Candidate) -> _Candidate:
    """A candidate the head check did not reach: no evidence from the head."""
    if template.head(cand.angle) is None:
        return cand
    return replace(cand, score=(1.0 - HEAD_WEIGHT) * cand.score)


def _check_threshold(threshold: float) -> float:
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise UsageError(f"threshold must be a number, got {threshold!r}",
                         parameter="threshold") from None
    if not 0.0 <= value <= 1.0:
        raise UsageError(f"threshold must be between 0 and 1 for the robust method, got "
                         f"{value}", parameter="threshold")
    return value


def _search(rgb: np.ndarray, prepared: RobustTemplate, scale_list: list[float],
            angle_list: list[float], top_k: int, workers: int) -> list[_Candidate]:
    """Every refined candidate, best first (before suppression and threshold)."""
    features = pixel_features(rgb)
    h, w = rgb.shape[:2]
    count = max(20, int(round(CANDIDATES_PER_MEGAPIXEL * h * w / 1.92e6)), 4 * top_k)
    fitting = [s for s in scale_list
               if prepared.bbox[2] * s <= h and prepared.bbox[3] * s <= w]
    if not fitting:
        raise ProcessingError(
            f"template {prepared.size[1]}x{prepared.size[0]} is larger than the scene "
            f"{w}x{h} at every scale searched", parameter="template")
    side = max(1, int(round(SIDE_CANDIDATES_PER_MEGAPIXEL * h * w / 1.92e6)))
    candidates = _nominate(features, prepared, fitting, angle_list, count, workers, side)
    step = _neighbour_ratio(fitting)
    factors = (1.0,) if step is None else (step ** -0.5, 1.0, step ** 0.5)
    offsets = (0.0,) if len(angle_list) == 1 else (-ANGLE_STEP / 2, 0.0, ANGLE_STEP / 2)
    # The coarse angle is not always the nearest: on a cell grid half a cell off, a turned
    # template can outscore the right one on fine texture (an exact crop was nominated at
    # ±10° and never scored at 0°), so the best scale also tries the neighbouring angles.
    far = () if len(angle_list) == 1 else (-ANGLE_STEP, ANGLE_STEP)
    # Three rounds, each on fewer candidates: parts at half-cell offsets where the coarse
    # search put them; then half-cell offsets, nearby scales and angles for the best; then the
    # best few aligned to the pixel (which decides the score of exact copies).
    refined = map_threads(lambda c: _refine(features, prepared, c, (1.0,), (0.0,), 2),
                          candidates, workers)
    refined.sort(key=lambda c: -c.score)
    head = min(len(refined), REFINED_CANDIDATES + top_k)
    refined[:head] = map_threads(lambda c: _refine(features, prepared, c, factors, offsets,
                                                   FINE_LATTICE, TEMPLATE_BLURS, far),
                                 refined[:head], workers)
    # The head check on the candidates of the second round; the rest (never searched at
    # nearby scales and angles) have no head evidence.
    refined[:head] = _with_head(rgb, prepared, refined[:head], workers)
    refined[head:] = [_unchecked(prepared, c) for c in refined[head:]]
    refined.sort(key=lambda c: -c.score)
    head = min(len(refined), 2 * top_k + 3)
    quarter = (1.0,) if step is None else tuple(step ** (k / 4) for k in (-2, -1, 0, 1, 2))
    # At the pixel, half an angle step aside too (at the best scale): on fine texture the
    # half-cell lattice of the round before can prefer a neighbouring angle.
    half = () if len(angle_list) == 1 else (-ANGLE_STEP / 2, ANGLE_STEP / 2)
    refined[:head] = map_threads(lambda c: _refine(features, prepared, c, quarter, (0.0,),
                                                   None, (), half), refined[:head], workers)
    refined[:head] = _with_head(rgb, prepared, refined[:head], workers)
    refined.sort(key=lambda c: -c.score)
    return refined


def find_robust(scene: np.ndarray, template: np.ndarray | RobustTemplate, *,
                threshold: float = DEFAULT_THRESHOLD, top_k: int = 1,
                scales: Sequence[float] | None = None, angles: Sequence[float] | None = None,
                workers: int | None = None) -> SearchResult:
    """Find the template's character in a scene: another pose, size or angle, among look-alikes.

    Parameters
    ----------
    scene : ndarray, shape (H, W) or (H, W, C)
        Gray or RGB(A) (alpha ignored), any real dtype (floats on the 0..1 scale, or
        0..255 / 0..65535 when larger values are present).
    template : ndarray or RobustTemplate
        The character; its alpha, when present, marks which pixels are the character,
        otherwise a plain background around it is cut away (:func:`character_mask`).
    threshold : float
        Least score in [0, 1] that counts as found; default :data:`DEFAULT_THRESHOLD`.
    top_k : int
        At most this many matches, best first, no two boxes overlapping by more than half
        of the smaller box.
    scales : sequence of float, optional
        Template sizes searched; default :data:`DEFAULT_SCALES` (0.5 to 2).
    angles : sequence of float, optional
        Angles (degrees, counter-clockwise) searched coarsely; default
        :data:`DEFAULT_ANGLES` (−20 to 20); refinement looks ±5° around each (±10° at
        the best scale).
    workers : int, optional
        Threads (``None``: every CPU).

    Returns
    -------
    SearchResult
        ``matches`` (``Match`` boxes in scene pixels: the template's character box at the
        scale and angle found, upright around the turned character; ``scale`` is that
        scale), ``best`` (the best candidate whatever its
        score) and ``score_map=None`` (see :func:`robust_score_map`). A candidate that did
        not reach the head check scores ``1 - HEAD_WEIGHT`` (0.7) times its parts' score,
        below the default threshold.

    Raises
    ------
    UsageError
        For a threshold outside [0, 1], ``top_k < 1`` or a non-positive scale.
    ProcessingError
        For arrays that cannot be images, or a template whose alpha is all 0.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> scene = (rng.random((120, 160, 3)) * 255).astype(np.uint8)
    >>> result = find_robust(scene, scene[30:78, 50:74], scales=[1.0], angles=[0.0])
    >>> m = result.matches[0]
    >>> (m.x, m.y, m.width, m.height), m.score >= 0.95
    ((50, 30, 24, 48), True)
    """
    threshold = _check_threshold(threshold)
    if isinstance(top_k, bool) or int(top_k) != top_k or top_k < 1:
        raise UsageError(f"top_k must be a whole number >= 1, got {top_k}", parameter="top_k")
    scale_list = _check_scales(scales)
    angle_list = list(DEFAULT_ANGLES if angles is None else angles)
    workers = resolve_workers(workers)
    prepared = prepare_robust(template)
    # BLAS on one thread: our threads already share the cores, and OpenBLAS's own pool,
    # woken by the larger products (the coarse search's DFTs), spun beside them (a fifth
    # more CPU time on 2 cores).
    with one_thread():
        refined = _search(_rgb01(scene, "scene"), prepared, scale_list, angle_list, top_k,
                          workers)
    matches: list[Match] = []
    kept: list[_Candidate] = []
    best = None
    for cand in refined:
        box = _box(prepared, cand)
        if any(_overlap(box, _box(prepared, k)) > 0.5 for k in kept):
            continue
        # The character's box: where the grid starts, as large as the character (the grid
        # may overhang it by up to a cell), plus the border ring that did not vote.
        extent_h, extent_w = prepared.pose(cand.angle).extent
        top, left, bottom, right = (m * cand.scale for m in prepared.margin)
        box = (box[0] - left, box[1] - top, extent_w * cand.scale + left + right,
               extent_h * cand.scale + top + bottom)
        match = Match(int(round(box[0])), int(round(box[1])), max(1, int(round(box[2]))),
                      max(1, int(round(box[3]))), round(max(0.0, min(1.0, cand.score)), 6),
                      round(cand.scale, 9))
        if best is None:
            best = match
        if cand.score < threshold or len(matches) >= top_k:
            break
        kept.append(cand)
        matches.append(match)
    return SearchResult(matches=matches, best=best, score_map=None)


def _neighbour_ratio(scales: list[float]) -> float | None:
    """The smallest ratio between neighbouring scales (``None`` for one scale)."""
    if len(scales) < 2:
        return None
    return min(b / a for a, b in zip(scales, scales[1:], strict=False))


def robust_score_map(scene: np.ndarray, template: np.ndarray | RobustTemplate,
                     scale: float = 1.0, *, workers: int | None = None) -> np.ndarray:
    """The robust score of every window at one scale, for a heatmap, in [0, 1].

    The whole-character score of the coarse search (best over the default angles), one
    value per cell, spread back over the pixels: entry ``[i, j]`` belongs to the window
    whose top-left pixel is ``(i, j)`` and whose size is the template's at ``scale``, so
    the map has the shape of :func:`cvtool.matching.zncc`'s, ``(H - h + 1, W - w + 1)``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> scene = (rng.random((80, 90, 3)) * 255).astype(np.uint8)
    >>> m = robust_score_map(scene, scene[10:50, 20:40])
    >>> m.shape, float(m.min()) >= 0, float(m.max()) <= 1
    ((41, 71), True, True)
    """
    prepared = prepare_robust(template)
    workers = resolve_workers(workers)
    (scale,) = _check_scales([scale])
    rgb = _rgb01(scene, "scene")
    h, w = rgb.shape[:2]
    th, tw = prepared.size
    th_s, tw_s = max(1, round(th * scale)), max(1, round(tw * scale))
    if th_s > h or tw_s > w:
        raise ProcessingError(f"template {tw_s}x{th_s} at scale {scale} is larger than the "
                              f"scene {w}x{h}", parameter="template")
    features = pixel_features(rgb)
    cell = prepared.cell * scale
    out = np.zeros((h - th_s + 1, w - tw_s + 1), np.float32)
    if cell < 1.0:
        return out
    maps, cell_h, cell_w = _cell_maps(features, cell)
    poses = [prepared.pose(a) for a in DEFAULT_ANGLES]
    best = None
    with one_thread():
        scores = _whole_scores(maps, poses, workers, whole_only=True)
    for pose, score in zip(poses, scores, strict=True):
        if score is None:
            continue
        ph, pw = pose.features.shape[:2]
        # Anchor every map at the grid's centre so that angles line up.
        grid = np.full(maps.shape[:2], -1.0, np.float32)
        oy, ox = (ph - 1) // 2, (pw - 1) // 2
        grid[oy:oy + score.shape[0], ox:ox + score.shape[1]] = score
        best = grid if best is None else np.maximum(best, grid)
    if best is None:
        return out
    best = np.clip(best, 0.0, 1.0)
    # The cell under each window's character centre.
    top, left, bh, bw = prepared.bbox
    cy = (np.arange(out.shape[0]) + (top + bh / 2) * scale) / cell_h
    cx = (np.arange(out.shape[1]) + (left + bw / 2) * scale) / cell_w
    iy = np.clip(cy.astype(int), 0, best.shape[0] - 1)
    ix = np.clip(cx.astype(int), 0, best.shape[1] - 1)
    out[:] = best[iy[:, None], ix[None, :]]
    return out
