"""``ray job submit --working-dir . -- python jobs/train.py --data s3://... --output s3://...``

The same options as ``vidcolor train``; joins the cluster the job runs on (``--address auto``).
"""

from __future__ import annotations

import sys
from pathlib import Path

# `ray job submit --working-dir .` runs this file from the uploaded checkout: make it importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidcolor.cli import job_main  # noqa: E402
from vidcolor.commands.train import add_arguments, run  # noqa: E402

if __name__ == "__main__":
    sys.exit(job_main("jobs/train.py", __doc__, add_arguments, run))
