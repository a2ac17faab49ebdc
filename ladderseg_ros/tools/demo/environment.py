"""The demo's private ROS environment: a random DDS domain, on loopback only.

The node and the demo's own rclpy side talk in a private DDS domain (a random
``ROS_DOMAIN_ID`` in 1..101) on loopback only (``ROS_LOCALHOST_ONLY=1`` on Humble/Iron,
``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` for Jazzy): the demo never hears, nor disturbs,
the robots on the user's default domain. The variables are restored when the demo ends.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ladderseg_ros.tools.demo.config import PACKAGE_DIR, DemoError

LOG = logging.getLogger(__name__)

PRIVATE_DOMAINS = (1, 101)  # never 0 (the default everyone uses); <= 101 keeps ports valid
# Loopback only: Jazzy and later read ROS_AUTOMATIC_DISCOVERY_RANGE (and warn about the
# deprecated ROS_LOCALHOST_ONLY); Humble and Iron know only ROS_LOCALHOST_ONLY.
PRIVATE_ROS_ENV = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
TRANSPORT_PROFILE = "fastdds_large_images.xml"
PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")
LEGACY_DISTROS = ("humble", "iron")


def transport_profile() -> Path | None:
    """The package's Fast DDS profile for large best-effort images, or None.

    Looked up in the source tree, then in the installed share directory.
    """
    candidates = [PACKAGE_DIR.parent / "config" / TRANSPORT_PROFILE]
    try:
        from ament_index_python.packages import get_package_share_directory

        share = Path(get_package_share_directory("ladderseg_ros"))
        candidates.append(share / "config" / TRANSPORT_PROFILE)
    except Exception:  # no ament index (wheels) or the package is not installed in it
        pass
    return next((p for p in candidates if p.is_file()), None)


@contextmanager
def private_ros_domain(domain_id: int | None = None) -> Iterator[int]:
    """Sets a private, loopback-only ROS environment for this process and its children.

    Must enclose ``rclpy.init`` (which reads the variables) and the node's start; the previous
    values are restored (or removed) afterwards.

    Args:
        domain_id: the ``ROS_DOMAIN_ID``; None: a random one in ``PRIVATE_DOMAINS``.

    Yields:
        The domain id.

    Raises:
        DemoError: ``domain_id`` lies outside ``PRIVATE_DOMAINS``.
    """
    low, high = PRIVATE_DOMAINS
    domain = random.randint(low, high) if domain_id is None else domain_id
    if not low <= domain <= high:
        raise DemoError(f"ROS domain {domain}: the demo uses a private domain in {low}..{high}")
    wanted = {**PRIVATE_ROS_ENV, "ROS_DOMAIN_ID": str(domain)}
    profile = transport_profile()
    if profile is not None:  # best-effort stereo pairs arrive whole (README: transport)
        wanted.update({name: str(profile) for name in PROFILE_VARIABLES})
    else:
        LOG.warning(
            "%s not found: Fast DDS defaults may lose best-effort images", TRANSPORT_PROFILE
        )
    if os.environ.get("ROS_DISTRO", "") in LEGACY_DISTROS:
        wanted["ROS_LOCALHOST_ONLY"] = "1"
    saved = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        yield domain
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
