"""References read and prepared on the worker that needs them, once per process: a segment task
reads the few its frames need (``steer.needed``), never all of a film's, and nothing passes the
driver."""

from __future__ import annotations

from functools import lru_cache

from vidcolor.guide.match import PhotoMatcher
from vidcolor.guide.reference import GuideImage, guide_image
from vidcolor.guide.sidecars import FILM_PHOTO, KEYFRAME, SHOT_PHOTO, RefSpec
from vidcolor.guide.steer import Guide


def guides_for(
    specs: list[RefSpec], size: tuple[int, int], use: list[int] | None = None
) -> list[Guide]:
    """A :class:`Guide` per spec, in order, for frames of model resolution ``size`` (h, w); the
    ones in ``use`` (all when None) loaded."""
    guides = []
    for i, spec in enumerate(specs):
        g = Guide(spec.kind, spec.frame)
        if use is None or i in use:
            if spec.kind in (FILM_PHOTO, SHOT_PHOTO):
                g.matcher = _matcher(spec.uri, min(size))
            else:
                g.image = _frame_guide(spec.uri, tuple(size))
            if spec.kind == KEYFRAME:  # beyond its reach it works by correspondence
                g.matcher = _keyframe_matcher(spec.uri, tuple(size))
        guides.append(g)
    return guides


@lru_cache(maxsize=8)
def _frame_guide(uri: str, size: tuple[int, int]) -> GuideImage:
    """A keyframe or hints image at exactly the frames' model resolution."""
    from vidcolor.image import read_rgba

    rgb, alpha = read_rgba(uri)
    return guide_image(rgb, alpha, size)


@lru_cache(maxsize=8)
def _matcher(uri: str, short_side: int) -> PhotoMatcher:
    """A reference photo at the model's short side, its own aspect, prepared for matching."""
    from vidcolor.image import read_rgba
    from vidcolor.models.resolution import model_resolution

    rgb, _ = read_rgba(uri)
    size = model_resolution(rgb.shape[0], rgb.shape[1], short_side)
    return PhotoMatcher(guide_image(rgb, None, size))


@lru_cache(maxsize=8)
def _keyframe_matcher(uri: str, size: tuple[int, int]) -> PhotoMatcher:
    return PhotoMatcher(_frame_guide(uri, size))
