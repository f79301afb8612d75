"""Distributed colourisation: plan inputs into segment rows, run decode -> model -> smooth ->
encode on Ray Data, finalise each video on the driver, resume from state under the output."""

from vidcolor.pipeline.config import PipelineConfig
from vidcolor.pipeline.report import InputResult, Report
from vidcolor.pipeline.run import colourise
from vidcolor.pipeline.sequential import colourise_sequential, colourise_video_sequential

__all__ = [
    "InputResult",
    "PipelineConfig",
    "Report",
    "colourise",
    "colourise_sequential",
    "colourise_video_sequential",
]
