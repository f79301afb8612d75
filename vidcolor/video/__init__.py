"""Video engine: probe, keyframe segments, decode to L, encode colourised segments, re-mux.

Pure PyAV + pyarrow.fs (through ``vidcolor.storage``); no Ray here, every stage is a plain function.
"""

from vidcolor.video.decode import DecodedSegment, decode_segment, iter_full_l, model_resolution
from vidcolor.video.encode import EncodeSettings, encode_segment, merge_l_ab
from vidcolor.video.mux import container_for, finalise
from vidcolor.video.probe import StreamInfo, VideoInfo, probe
from vidcolor.video.segments import Segment, plan_segments

__all__ = [
    "DecodedSegment",
    "EncodeSettings",
    "Segment",
    "StreamInfo",
    "VideoInfo",
    "container_for",
    "decode_segment",
    "encode_segment",
    "finalise",
    "iter_full_l",
    "merge_l_ab",
    "model_resolution",
    "plan_segments",
    "probe",
]
