"""The same stages in one process, one segment after another, no Ray: the bound the Ray pipeline
is measured against on CPU-only machines, and a handy reference in tests."""

from __future__ import annotations

from vidcolor.pipeline.config import PipelineConfig
from vidcolor.pipeline.driver import Run, probe_input
from vidcolor.pipeline.report import InputResult, Report
from vidcolor.pipeline.stages import ColouriseActor, decode_row, encode_row, smooth_row


def colourise_sequential(
    inputs: list[str],
    output: str,
    config: PipelineConfig | None = None,
    *,
    model: ColouriseActor | None = None,
) -> Report:
    """Like :func:`vidcolor.pipeline.colourise` (same outputs, state and report), in-process."""
    run = Run(inputs, output, config or PipelineConfig())
    try:
        execute_in_process(run, model=model)
    finally:
        report = run.close()
    return report


def execute_in_process(run: Run, *, model: ColouriseActor | None = None) -> None:
    """Probe, then push every row through all stages, one after another."""
    config = run.config
    for job in run.pending("video"):
        run.add_probe(job, *probe_input(job.uri, config.segment_seconds, config.overlap))
    rows = run.rows()
    if not rows:
        return
    model = model or ColouriseActor(
        config.checkpoint,
        device=config.device,
        inception_weights=config.inception_weights,
        batch_size=config.batch_size,
    )
    run.start_progress(rows)
    for row in rows:
        row = decode_row(row)
        row = model.predict_rows([row])[0]
        row = smooth_row(row, radius=config.smoothing)
        row = encode_row(row, codec=config.codec, crf=config.crf, preset=config.preset)
        run.consume(row)


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
