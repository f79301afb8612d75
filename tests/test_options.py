"""Options declared once (vidcolor/options.py): a config field is its flag, help, default and
check; the CLI's parser, the config it builds and the checks all come from the field."""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass, fields

import pytest

from vidcolor.errors import UsageError
from vidcolor.options import (
    above,
    add_options,
    at_least,
    check_options,
    config_from_args,
    option,
    options,
    within,
)
from vidcolor.pipeline.config import PipelineConfig
from vidcolor.train.config import TrainConfig


@dataclass
class Toy:
    size: int = option(4, metavar="N", help="size (default: %(default)s)", check=at_least(1))
    rate: float | None = option(None, group="g", check=above(0))
    mode: str = option("a", group="g", choices=("a", "b"))
    sources: list[str] = option(default_factory=list, metavar="SRC")
    dry: bool = option(False, group="talk", exclusive="x")
    loud: bool = option(True, flag="--quiet", group="talk", exclusive="x")
    address: str | None = option(None, help="join (default: %(default)s)", none_means="local")
    internal: int = 7  # no option: not on the command line

    def __post_init__(self) -> None:
        check_options(self)


def _parser(**defaults) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="toy")
    add_options(p, Toy, defaults=defaults)
    return p


def test_one_field_is_one_option_with_its_type_default_and_check():
    p = _parser()
    assert config_from_args(Toy, p.parse_args([])) == Toy()
    argv = ["--size", "9", "--rate", "0.5", "--mode", "b", "--sources", "x", "--sources", "y"]
    got = config_from_args(Toy, p.parse_args([*argv, "--quiet"]), internal=1)
    assert got == Toy(size=9, rate=0.5, mode="b", sources=["x", "y"], loud=False, internal=1)
    with pytest.raises(SystemExit):
        _parser().parse_args(["--dry", "--quiet"])  # mutually exclusive
    with pytest.raises(SystemExit):
        _parser().parse_args(["--mode", "c"])  # choices on the command line
    with pytest.raises(UsageError, match=r"^--size must be >= 1, got 0$"):
        Toy(size=0)
    with pytest.raises(UsageError, match=r"^--mode must be one of a, b, got 'c'$"):
        Toy(mode="c")  # and in the Python API
    text = p.format_help()
    assert (
        "--internal" not in text and "size (default: 4)" in text and "join (default: local)" in text
    )
    assert "join (default: auto)" in _parser(address="auto").format_help()
    assert within(0, 1).ok(1) and not within(0, 1, high_open=True).ok(1)


def test_every_config_option_is_on_its_command_and_keeps_the_field_default():
    from vidcolor.cli import build_parser

    colourise = build_parser().parse_args(["colourise", "in.mp4", "-o", "out"])
    assert config_from_args(PipelineConfig, colourise) == PipelineConfig()
    train = build_parser().parse_args(["train", "--data", "d", "--output", "o"])
    assert config_from_args(TrainConfig, train) == TrainConfig(data=["d"], output="o")
    for config_type, command in ((PipelineConfig, colourise), (TrainConfig, train)):
        names = {f.name for f, _ in options(config_type)}
        assert names <= set(vars(command))
        # what has no option is set by the program, not the user
        assert {f.name for f in fields(config_type)} - names <= {"preset", "cpus_per_actor"}


@pytest.mark.parametrize(
    ("config_type", "values", "message"),
    [
        (PipelineConfig, {"crf": 60}, r"--crf must be in \[0, 51\], got 60"),
        (PipelineConfig, {"device": "gpu"}, "--device must be one of auto, cpu, cuda, got 'gpu'"),
        (PipelineConfig, {"codec": "vp9"}, "--codec must be one of h264, h265, ffv1, prores"),
        (PipelineConfig, {"batch_size": 0}, "--batch-size must be > 0, got 0"),
        (PipelineConfig, {"max_actors": 1, "min_actors": 2}, r"--max-actors \(1\) must be >="),
        (TrainConfig, {"workers": 0}, "--workers must be >= 1, got 0"),
        (TrainConfig, {"disc_dim": 0}, "--disc-dim must be > 0, got 0"),
        (TrainConfig, {"image_size": 100}, "--image-size must be a multiple of 32, got 100"),
        (TrainConfig, {"variant": "gan"}, "--variant must be one of vit-i-gan, vit-gan"),
    ],
)
def test_both_configs_refuse_bad_values_in_one_line(config_type, values, message):
    with pytest.raises(UsageError, match=message) as err:
        config_type(**values)
    assert "\n" not in str(err.value)


def test_the_command_line_starts_without_av_torch_or_ray():
    code = (
        "import sys; from vidcolor.cli import build_parser; "
        "build_parser().parse_args(['colourise', 'a', '-o', 'o']); "
        "print(sorted(m for m in ('av', 'torch', 'ray', 'numpy') if m in sys.modules))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.strip() == "[]", run.stderr[-2000:]
