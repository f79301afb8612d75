"""`make demo`'s command: colours the sample clip, and colours it again on a second run (a demo
shows the current checkpoint, not an earlier run's output)."""

from __future__ import annotations

import json


def test_demo_runs_twice_and_colours_both_times(tmp_path, ray_local, capsys):
    from vidcolor.demo import main

    out = tmp_path / "demo-out"
    for _ in range(2):
        assert (
            main(["--clip", "carphone_pristine.mp4", "--out", str(out), "--model-size", "96"]) == 0
        )
        printed = capsys.readouterr().out
        assert "1 ok, 0 skipped, 0 failed" in printed, printed
    report = json.loads((out / "colour" / "vidcolor-report.json").read_text())
    assert [r["status"] for r in report["inputs"]] == ["ok"]
    assert (out / "colour" / "carphone_pristine-grey.preview.png").stat().st_size > 1000
