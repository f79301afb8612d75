"""Video engine: probe, keyframe segments, decode to L, encode colourised segments, re-mux.

Pure PyAV + pyarrow.fs (through ``vidcolor.storage``); no Ray here, every stage is a plain function.
Names are imported lazily so ``vidcolor probe`` does not pay for importing torch. The probe
function lives at ``vidcolor.video.probe.probe`` (the package attribute ``probe`` is the module).
"""

from __future__ import annotations

from vidcolor.lazy import lazy_getattr

_EXPORTS = {
    "DecodedSegment": "decode",
    "decode_segment": "decode",
    "iter_luma": "decode",
    "model_resolution": "decode",
    "EncodeSettings": "encode",
    "encode_segment": "encode",
    "container_for": "mux",
    "finalise": "mux",
    "StreamInfo": "probe",
    "VideoInfo": "probe",
    "Segment": "segments",
    "plan_segments": "segments",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
