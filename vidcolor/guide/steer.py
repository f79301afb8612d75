"""Steer a segment's (or a photo's) colours with its references: the order things happen in.

A video's references are anchored to frames (keyframes: a coloured copy of the frame; hints: the
same with only some pixels marked; shot photos: a photo for the shot around a frame) or apply to the
whole film (film photos). For the frames of one segment, context included:

1. Per frame, before smoothing: film photos correct the model's colours by correspondence
   (:mod:`vidcolor.guide.match`); a shot photo does so fully within ``reach`` of its frame in the
   same shot and, like a keyframe further than half its reach from a frame, only where it shows
   the same scene ("gated"). These depend on the frame alone, so the smoothing that follows
   removes their frame-to-frame jitter and segments agree at their seams as smoothing does.
2. Temporal smoothing (:mod:`vidcolor.smooth`).
3. Per frame, after smoothing: each keyframe and hint frame whose chain reaches it
   (:mod:`vidcolor.guide.chain`) overrides the colours where the chain is sure, and a keyframe's
   chain also corrects the rest of the frame toward what it shows of the model's errors. At a
   keyframe itself the output is the reference.

A frame's result depends only on frames between it and the anchors within ``reach`` of it (the
segment planner gives a segment those frames as context), and on the frame itself otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vidcolor.flow import PairFlows
from vidcolor.guide.chain import carry, fade
from vidcolor.guide.hints import spread_hints
from vidcolor.guide.match import Match, PhotoMatcher, correct_toward
from vidcolor.guide.reference import GuideImage
from vidcolor.guide.sidecars import FILM_PHOTO, HINTS, KEYFRAME, SHOT_PHOTO

ANCHORED = (KEYFRAME, HINTS, SHOT_PHOTO)
# A reference "reached" a frame where its chain covers this share of it, or where its
# correspondence moved ab by this much on average (normalised: 1.3 Lab units).
REACHED_COVER, REACHED_CHANGE = 0.05, 0.01


@dataclass
class Guide:
    """One reference of a video: ``kind``, its frame in the video (None for film photos) and, once
    loaded, its image (keyframes, hints) or matcher (photos)."""

    kind: str
    frame: int | None = None
    image: GuideImage | None = None
    matcher: PhotoMatcher | None = None
    reached: set[int] = field(default_factory=set)  # video frames it changed


def needed(guides: list, lo: int, hi: int, reach: int) -> list[int]:
    """Indices of the guides (anything with ``kind`` and ``frame``: a :class:`Guide`, a plan's
    ``RefSpec``) a segment decoding video frames [lo, hi) uses: film photos; anchored references
    within ``reach`` of a frame; and, beyond that, the nearest keyframe and shot photo on each
    side of every frame (correspondence)."""
    use = {i for i, g in enumerate(guides) if g.kind == FILM_PHOTO}
    for t in range(lo, hi):
        use |= {i for i in _nearest(guides, t) if abs(guides[i].frame - t) > reach / 2}
        use |= {i for i, g in enumerate(guides) if g.kind in ANCHORED and abs(g.frame - t) <= reach}
    return sorted(use)


def _nearest(guides: list, t: int) -> list[int]:
    """The keyframe and shot photo nearest before and after video frame ``t`` (hints have no
    correspondence: a few strokes are not a picture of the scene)."""
    out = []
    for kind in (KEYFRAME, SHOT_PHOTO):
        at = [(g.frame, i) for i, g in enumerate(guides) if g.kind == kind]
        before = [x for x in at if x[0] <= t]
        after = [x for x in at if x[0] > t]
        out += [max(before)[1]] if before else []
        out += [min(after)[1]] if after else []
    return out


def steer_segment(
    l: np.ndarray,  # noqa: E741
    ab: np.ndarray,
    shot: np.ndarray,
    first: int,
    guides: list[Guide],
    reach: int,
    smooth,
    window: tuple[int, int] | None = None,
) -> np.ndarray:
    """The colours of decoded frames ``l`` (N, 1, h, w) whose model ab is ``ab`` (N, 2, h, w),
    steered (module docstring), for the frames ``window`` = (lo, hi) (all by default; frames
    outside it are there for the chains, which need only their L, and their ab is not read).
    ``shot``: (N,) shot number per frame; ``first``: the video index of frame 0; ``guides``: the
    video's references, the ones :func:`needed` names loaded; ``smooth(ab) -> ab``: the temporal
    smoothing of the window's frames. Records in each guide the frames it reached."""
    lo, hi = window or (0, len(l))
    corrected = [_per_frame(l, ab, t, shot, first, guides, reach) for t in range(lo, hi)]
    smoothed = smooth(np.stack(corrected))
    return _chains(l, smoothed, shot, first, guides, reach, lo)


def _per_frame(l, ab, t: int, shot, first: int, guides: list[Guide], reach: int) -> np.ndarray:  # noqa: E741
    """Step 1 of the module docstring for segment frame ``t``."""
    out = np.array(ab[t], np.float32)
    video_t = first + t
    for g in guides:
        if g.kind == FILM_PHOTO and g.matcher is not None:
            out = _apply(g, video_t, out, g.matcher.apply(l[t, 0], out), 1.0)
    for i in _nearest(guides, video_t):
        g = guides[i]
        if g.matcher is None:
            continue
        d = abs(g.frame - video_t)
        if g.kind == SHOT_PHOTO and _same_shot(shot, first, t, g) and fade(d, reach) > 0:
            out = _apply(g, video_t, out, g.matcher.apply(l[t, 0], out), fade(d, reach))
        if d > reach / 2:
            gated = g.matcher.apply(l[t, 0], out, gated=True)
            out = _apply(g, video_t, out, gated, 1.0 - fade(d, reach))
    return out


def _apply(g: Guide, video_t: int, ab: np.ndarray, steered: np.ndarray, weight) -> np.ndarray:
    """``ab`` moved toward ``steered`` by ``weight``; notes the frame as reached when it moved."""
    out = weight * steered + (1.0 - weight) * ab
    if np.abs(out - ab).mean() > REACHED_CHANGE:
        g.reached.add(video_t)
    return out.astype(np.float32)


def _same_shot(shot: np.ndarray, first: int, t: int, g: Guide) -> bool:
    """Whether frame ``t`` (segment index) lies in the shot of ``g``'s frame, as far as this
    segment can tell (it decodes every frame within reach of ``g``'s frame, when it has one)."""
    a = g.frame - first
    return 0 <= a < len(shot) and shot[a] == shot[t]


def _chains(l, smoothed, shot, first: int, guides: list[Guide], reach: int, lo: int) -> np.ndarray:  # noqa: E741
    """Step 3 of the module docstring, for the frames lo:lo + len(smoothed) of ``l``."""
    n = len(l)
    flows = PairFlows(l) if n > 1 else None
    carried = []  # (guide, its frame in the segment, ab (N, 2, h, w), conf (N, h, w))
    for g in guides:
        a = None if g.frame is None else g.frame - first
        if g.kind not in (KEYFRAME, HINTS) or g.image is None or not 0 <= a < n:
            continue
        if g.kind == HINTS:
            key_ab, key_conf = spread_hints(l[a, 0], g.image.ab, g.image.alpha)
        else:
            key_ab, key_conf = g.image.ab, np.ones(l.shape[2:], np.float32)
        if flows is None:
            c_ab, c_conf = key_ab[None], key_conf[None]
        else:
            c_ab, c_conf = carry(l, a, key_ab, key_conf, shot, reach, flows)
        carried.append((g, a, c_ab, c_conf))
    if not carried:
        return smoothed
    out = np.array(smoothed, np.float32)
    frames = range(lo, lo + len(smoothed))
    for t in frames:
        chains = [(g, t - a, x[t], c[t]) for g, a, x, c in carried]
        out[t - lo] = _combine(l[t, 0], smoothed[t - lo], chains)
    for g, _, _, conf in carried:
        g.reached |= {first + t for t in frames if conf[t].mean() > REACHED_COVER}
    return out


def _combine(l: np.ndarray, ab: np.ndarray, chains: list) -> np.ndarray:  # noqa: E741
    """One frame's chains (guide, distance to its anchor, ab, conf) merged with its smoothed
    ``ab``. Weights fall with the square of the distance to each anchor, so an anchor's own
    frame is its reference (to 1e-4); opaque keyframes also correct the rest of the frame toward
    what they show of the model's errors."""
    mixed, weight = np.zeros_like(ab), np.zeros(ab.shape[1:], np.float32)
    opaque, opaque_weight = np.zeros_like(ab), np.zeros_like(weight)
    unsure = np.ones_like(weight)  # how much no chain speaks for a pixel
    for g, distance, c_ab, conf in chains:
        w = conf / np.float32((abs(distance) + 0.01) ** 2)
        mixed += w * c_ab
        weight += w
        unsure *= 1.0 - conf
        if g.kind == KEYFRAME:
            opaque += conf * c_ab
            opaque_weight += conf
    sure = 1.0 - unsure
    guide = mixed / np.maximum(weight, 1e-12)
    base = ab
    if opaque_weight.max() > 0:
        matched = opaque / np.maximum(opaque_weight, 1e-12)
        base = correct_toward(l, ab, Match(matched, opaque_weight.clip(0.0, 1.0), "chain"))
    return sure * guide + (1.0 - sure) * base


def steer_photo(l: np.ndarray, ab: np.ndarray, guides: list[Guide]) -> np.ndarray:  # noqa: E741
    """A photo's normalised ab (2, h, w) steered by its references: reference photos by
    correspondence, then hint strokes spread over it (an opaque "hints" file is the whole
    answer). ``l``: its normalised L (h, w); the guides loaded at that size."""
    out = np.array(ab, np.float32)
    for g in guides:
        if g.matcher is not None:
            out = _apply(g, 0, out, g.matcher.apply(l, out), 1.0)
    for g in guides:
        if g.image is None:
            continue
        if g.kind == HINTS:
            hint_ab, conf = spread_hints(l, g.image.ab, g.image.alpha)
        else:
            hint_ab, conf = g.image.ab, np.ones(l.shape, np.float32)
        out = _apply(g, 0, out, hint_ab, conf)
    return out
