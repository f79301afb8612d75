"""The same stages in one process, one row after another, no Ray: the bound the Ray pipeline is
measured against on CPU-only machines, the path for a handful of photos, a reference in tests."""

from __future__ import annotations

from vidcolor.pipeline.books import Books
from vidcolor.pipeline.config import PipelineConfig
from vidcolor.pipeline.model import ColouriseActor, actor_arguments
from vidcolor.pipeline.plan import input_rows, plan_input
from vidcolor.pipeline.report import InputResult, Report
from vidcolor.pipeline.rows import TODO
from vidcolor.pipeline.stages import finish_row, join_row, load_row
from vidcolor.pipeline.state import config_key


def colourise_sequential(
    inputs: list[str],
    output: str,
    config: PipelineConfig | None = None,
    *,
    model: ColouriseActor | None = None,
) -> Report:
    """Like :func:`vidcolor.pipeline.colourise` (same outputs, state and report), in-process."""
    config = config or PipelineConfig()
    books = Books(output, config, model=f"in-process, --device {config.device}")
    try:
        key = config_key(config)
        for listed in input_rows([str(x) for x in inputs], str(output), config):
            for row in plan_input(listed, output_root=str(output), config=config, config_key=key):
                if row["status"] == TODO:
                    model = model or ColouriseActor(**actor_arguments(config, config.device))
                    row = load_row(row, config=config)
                    row = model.predict_row(row)
                    row = finish_row(row, config=config, output_root=str(output))
                if (ready := books.consume(row)) is not None:
                    books.joined(ready["input"], join_row(ready, config, str(output)))
    finally:
        report = books.close()
    return report


def colourise_video_sequential(
    src: str,
    output: str,
    config: PipelineConfig | None = None,
    *,
    model: ColouriseActor | None = None,
) -> InputResult:
    """Colourise one video (decode -> model -> smooth -> encode per segment, then join) in this
    process into the directory/prefix ``output``; returns its report entry."""
    return colourise_sequential([src], output, config, model=model).inputs[0]
