"""Moved to ``ladderseg_ros.io.bags`` (issue 14).

This name stays importable until the command modules that still import it
(``tools.demo``, ``tools.cloud_plot``) follow.
"""

import sys

from ladderseg_ros.io import bags

sys.modules[__name__] = bags
