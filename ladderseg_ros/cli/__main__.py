"""``python -m ladderseg_ros.cli ...``: the ``ladderseg`` command (``cli.main``)."""

import sys

from ladderseg_ros.cli.main import main

sys.exit(main())
