"""rclpy isolation for the node tests: a private DDS domain per test session, loopback only."""

from __future__ import annotations

import os

# Set before rclpy initialises so that parallel test runs never hear each other.
os.environ["ROS_DOMAIN_ID"] = str(100 + os.getpid() % 100)
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
