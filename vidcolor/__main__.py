import sys

from vidcolor.cli import main

sys.exit(main())
