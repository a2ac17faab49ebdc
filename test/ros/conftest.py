"""rclpy isolation for the node tests: a private DDS domain per test session, loopback only."""

from __future__ import annotations

import os

# Set before rclpy initialises so that parallel test runs never hear each other. Domains stay
# in 1..101 (0 is everyone's default; above 101 the DDS ports may leave the valid range).
# Other files running in the same process use other offsets: test/tools/test_demo.py + 25,
# test/tools/test_segment_bag.py + 50.
os.environ["ROS_DOMAIN_ID"] = str(1 + os.getpid() % 100)
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
