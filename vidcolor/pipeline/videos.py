"""A video's stages on one segment row each, then the join of the whole video.

    decode (L at model resolution) -> [model] -> smooth (ab over time, scene cuts)
    -> encode (writes the segment into the state directory) ... join (all segments + audio)

Each stage reads what it needs about the video from the plan in its state directory (one read per
worker process), so rows carry a segment index, not the plan. Every byte of output is written
here, on the workers; the driver only counts the small rows that come back.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from vidcolor.errors import VidcolorError, one_line
from vidcolor.pipeline.config import PipelineConfig
from vidcolor.pipeline.guide_report import entries, reached_ranges
from vidcolor.pipeline.html_report import relative_to
from vidcolor.pipeline.rows import guarded, model_window, scalars, with_payloads
from vidcolor.pipeline.state import StateDir, VideoPlan, read_plan

log = logging.getLogger(__name__)


def _state(row: dict, config: PipelineConfig) -> StateDir:
    return StateDir(row["state"], config.encode_settings().segment_suffix())


def _decode(
    row: dict, *, model_size: int, context: int, deinterlace: bool = False, luma=None
) -> dict:
    """The segment's L at model resolution (context included: ``context`` frames each side for
    the smoothing, more near a reference), its frame times and concealed frames. ``luma``: a
    list that gets the owned frames' stored luma, for ``_encode`` in the same process (a local
    run decodes each frame once; on Ray the encoder decodes it again, see video/decode.py)."""
    from vidcolor.video.decode import decode_segment
    from vidcolor.video.tags import output_tags
    from vidcolor.video.timeline import Timeline

    plan = read_plan(row["state"])
    seg = plan.segments[row["segment"]]
    tags = output_tags(plan.source.video)
    decoded = decode_segment(
        row["input"],
        seg,
        model_size,
        deinterlace=deinterlace,
        timeline=Timeline.of(plan.source),
        luma=None if luma is None else (tags.matrix, tags.full_range),
    )
    if luma is not None:
        luma.extend(decoded.luma)
    return decoded_row(row, plan, decoded, context)


def decoded_row(row: dict, plan: VideoPlan, decoded, context: int) -> dict:
    """The decode stage's row for a ``DecodedSegment`` of ``row``'s segment (a video's or a
    frame sequence's): L, each frame's time, the owned frames that were concealed, and the rows
    the model colours (``context`` frames each side of the owned ones)."""
    seg = plan.segments[row["segment"]]
    own = decoded.own
    if own.stop - own.start != seg.n_frames:
        raise VidcolorError(
            f"{row['input']}: segment {seg.index} decoded {own.stop - own.start} owned frames, "
            f"the probe found {seg.n_frames}"
        )
    times = (decoded.pts - plan.first_pts).astype(np.float64) * float(plan.source.time_base)
    lost = np.searchsorted(decoded.pts, np.asarray(decoded.concealed, np.int64))
    concealed = np.stack([row["first_frame"] + lost - own.start, times[lost].round(3)], axis=1)
    window = max(0, own.start - context), min(len(decoded.pts), own.stop + context)
    rows = {"own_lo": own.start, "own_hi": own.stop, "infer_lo": window[0], "infer_hi": window[1]}
    return with_payloads(
        {**row, **rows},
        l=decoded.l_small.astype(np.float16),
        times=times,
        concealed=concealed.astype(np.float64).reshape(-1, 2),
    )


decode_segment_row = guarded(_decode, produces=("l", "times", "concealed"))


def _smooth(row: dict, *, radius: int) -> dict:
    """Smooth ab over time within the segment (context included), steered by the video's
    references when it has any (``vidcolor.guide.steer``), keep the owned frames, and find the
    scene cuts that start on an owned frame (index and time in the video)."""
    import cv2

    from vidcolor.smooth import SmoothingConfig, detect_cuts, smooth_ab
    from vidcolor.video.threads import codec_threads

    cv2.setNumThreads(codec_threads())  # OpenCV's default is every core, in a 1-CPU task
    lo, hi = row["own_lo"], row["own_hi"]
    l = np.asarray(row["l"], np.float32)  # noqa: E741
    cfg = SmoothingConfig(radius=radius)
    cuts = detect_cuts(l, threshold=cfg.cut_threshold, bins=cfg.hist_bins)
    # The frames whose colours matter; further out (near a reference) L only, for the flow.
    start, stop = model_window(row)
    l_win = l[start:stop]
    cuts_win = [c - start for c in cuts if start < c < stop]

    def smooth(ab: np.ndarray) -> np.ndarray:
        return smooth_ab(ab, l_win, cfg, cuts_win)

    plan = read_plan(row["state"])
    reached = None
    if plan.references:
        ab, reached = _steer(row, plan, l, (start, stop), cuts, smooth)
    else:
        ab = smooth(np.asarray(row["ab"][start:stop], np.float32))
    owned = [c for c in cuts if lo <= c < hi]
    return with_payloads(
        row,
        ab=ab[lo - start : hi - start].astype(np.float16),
        cut_frames=np.asarray([row["first_frame"] + c - lo for c in owned], np.int64),
        cut_times=np.asarray([round(float(row["times"][c]), 3) for c in owned], np.float64),
        concealed=row["concealed"],
        reached=reached,
    )


def _steer(row: dict, plan, l: np.ndarray, window: tuple[int, int], cuts: list[int], smooth):  # noqa: E741
    """The ab of the segment's ``window`` frames steered by the references its frames need; and
    which reference reached which owned frame, as (reference index, frame in the video) pairs."""
    from vidcolor.guide.load import guides_for
    from vidcolor.guide.steer import needed, steer_segment
    from vidcolor.smooth import shot_numbers

    first = row["first_frame"] - row["own_lo"]  # the video index of decoded frame 0
    use = needed(plan.references, first, first + len(l), plan.reach)
    guides = guides_for(plan.references, l.shape[2:], use)
    ab = np.asarray(row["ab"], np.float32)
    shot = shot_numbers(cuts, len(l))
    out = steer_segment(l, ab, shot, first, guides, plan.reach, smooth, window)
    own = range(row["first_frame"], row["first_frame"] + row["own_hi"] - row["own_lo"])
    pairs = [(i, t) for i, g in enumerate(guides) for t in sorted(g.reached) if t in own]
    return out, np.asarray(pairs, np.int64).reshape(-1, 2)


smooth_segment_row = guarded(
    _smooth, produces=("ab", "cut_frames", "cut_times", "concealed", "reached")
)


def _encode(row: dict, *, config: PipelineConfig, luma=None) -> dict:
    """Encode the owned frames straight into the state directory (cuts first, then the segment,
    each atomically); the row that goes on holds only how much was written. ``luma``: the owned
    frames' luma that ``_decode`` kept (None: decode it again)."""
    from vidcolor import storage
    from vidcolor.video.encode import encode_segment

    state = _state(row, config)
    plan = read_plan(state.root)
    index = row["segment"]
    state.write_notes(index, segment_notes(row))
    uri = state.segment_uri(index)
    with storage.atomic_output(uri) as tmp:
        encode_segment(
            row["input"],
            plan.segments[index],
            np.asarray(row["ab"], np.float32),
            tmp,
            config.encode_settings(),
            plan.source,
            luma=luma,
        )
        size = tmp.stat().st_size
    return {**scalars(row), "bytes": size}


encode_segment_row = guarded(_encode, produces=())


def segment_notes(row: dict) -> dict:
    """What the report needs of a smoothed segment row: its scene cuts, concealed frames and
    the owned frames each reference reached."""
    cuts = [
        {"frame": int(f), "time": float(t)}
        for f, t in zip(row["cut_frames"], row["cut_times"], strict=True)
    ]
    concealed = [{"frame": int(f), "time": float(t)} for f, t in np.asarray(row["concealed"])]
    return {"cuts": cuts, "concealed": concealed, "references": reached_ranges(row["reached"])}


def collected_notes(state: StateDir, n_segments: int) -> tuple[list, list, list]:
    """Every segment's scene cuts and concealed frames, in frame order, and the frame runs each
    reference reached."""
    notes = [state.notes(i) for i in range(n_segments)]
    cuts = sorted((c for note in notes for c in note["cuts"]), key=lambda c: c["frame"])
    concealed = sorted((c for note in notes for c in note["concealed"]), key=lambda c: c["frame"])
    return cuts, concealed, [r for note in notes for r in note["references"]]


def join_video(row: dict, config: PipelineConfig, output_root: str) -> dict:
    """Join every segment of a finished video, copy its audio/subtitles, publish it atomically,
    make its report thumbnail (and previews); returns what the report needs. Runs on a worker,
    as a Ray task."""
    from vidcolor import storage
    from vidcolor.pipeline.thumbnails import thumbnail_or_warn
    from vidcolor.video.mux import finalise

    state = _state(row, config)
    plan = read_plan(state.root)
    n = len(plan.segments)
    with tempfile.TemporaryDirectory(prefix="vidcolor-join-") as tmp:
        files = [state.local_segment(i, Path(tmp)) for i in range(n)]
        output = finalise(row["input"], files, row["output"], config.encode_settings(), plan.source)
    cuts, concealed, runs = collected_notes(state, n)
    size = storage.size_of(output)
    state.remove()
    png, mp4 = _previews(row["input"], output) if config.preview else (None, None)
    return {
        "output": output,
        "scene_cuts": cuts,
        "concealed": concealed,
        "jumps": [
            {"time": round(j["time"], 3), "by": round(j["by"], 3)} for j in plan.source.jumps
        ],
        "bytes": size,
        "thumbnail": thumbnail_or_warn(row["input"], output, output_root, row["relpath"]),
        "preview_png": relative_to(output_root, png),
        "preview_mp4": relative_to(output_root, mp4),
        "references": entries(
            plan.references, runs, cuts, output_root=output_root, relpath=row["relpath"]
        ),
    }


def _previews(src: str, dst: str) -> tuple[str | None, str | None]:
    from vidcolor.pipeline.preview import write_preview

    try:
        return write_preview(src, dst)
    except Exception as err:  # noqa: BLE001 - a preview is a bonus; the video is done
        log.warning("%s", one_line(f"{dst}: preview failed ({err})", 300))
        return None, None
