"""Ray job entry point: ``ray job submit --working-dir . -- python jobs/colourise.py INPUT... -o OUT``.

Same options as ``vidcolor colourise``; joins the cluster it runs on (``--address auto``).
"""

from __future__ import annotations

import sys
from pathlib import Path

# `ray job submit --working-dir .` runs this file from the uploaded checkout: make it importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidcolor.cli import job_main  # noqa: E402
from vidcolor.commands.colourise import DESCRIPTION, add_pipeline_arguments, run  # noqa: E402

if __name__ == "__main__":
    sys.exit(job_main("jobs/colourise.py", DESCRIPTION, add_pipeline_arguments, run))
