"""The demo's private ROS environment: a DDS domain of its own, on loopback only.

The node and the demo's own rclpy side talk in a private DDS domain (a ``ROS_DOMAIN_ID`` in
1..101 that no other ladderseg process holds: ``claim_private_domain``) on loopback only
(``ROS_LOCALHOST_ONLY=1`` on Humble/Iron, ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` for
Jazzy): the demo never hears, nor disturbs, the robots on the user's default domain, nor
another demo, test run or bench on the same machine. The variables are restored when the
demo ends.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import random
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


LOCK_FOLDER = "ladderseg-ros-domains"  # in the system's temporary folder, shared by users


@dataclass
class DomainClaim:
    """A ROS domain held by this process: no other claim gets it until ``release``.

    Attributes:
        domain: the ``ROS_DOMAIN_ID``.
        fd: the open lock file whose ``flock`` holds it (-1: held by no lock).
    """

    domain: int
    fd: int = -1

    def release(self) -> None:
        """Let other processes claim the domain (the lock also ends with the process)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def claim_private_domain(
    low: int = PRIVATE_DOMAINS[0], high: int = PRIVATE_DOMAINS[1]
) -> DomainClaim:
    """A ROS domain in ``low..high`` that no other claim holds, held until released.

    Every ladderseg process that needs a private domain (the demo, the tests, the benches)
    claims one: an exclusive ``flock`` on ``<temp>/ladderseg-ros-domains/<id>.lock``, tried
    in random order, a held one skipped. Two such processes on one machine then never share
    a domain (a random pick in 1..101 gives two concurrent runs the same one about once in
    100, and their nodes then hear each other's topics). Processes outside the package are
    not seen. Where no
    lock can be made (no writable temporary folder) the domain is picked at random, with
    one warning.

    Raises:
        DemoError: every domain in ``low..high`` is held.
    """
    domains = list(range(low, high + 1))
    random.shuffle(domains)
    folder = Path(tempfile.gettempdir()) / LOCK_FOLDER
    try:
        folder.mkdir()
        folder.chmod(0o1777)  # every user's processes lock here (sticky: own files only)
    except FileExistsError:
        pass  # made by an earlier claim
    except OSError as exc:
        LOG.warning("no ROS domain locks in %s (%s): domain picked at random", folder, exc)
        return DomainClaim(domains[0])
    for domain in domains:
        try:
            fd = os.open(folder / f"{domain}.lock", os.O_RDONLY | os.O_CREAT, 0o666)
        except OSError as exc:
            LOG.warning("ROS domain lock %s/%d.lock: %s", folder, domain, exc)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                continue  # held by another process (or another claim of this one)
            raise
        return DomainClaim(domain, fd)
    raise DemoError(f"every ROS domain in {low}..{high} is held by another ladderseg process")


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
        domain_id: the ``ROS_DOMAIN_ID``; None: one in ``PRIVATE_DOMAINS`` that no other
            ladderseg process holds (``claim_private_domain``), held until the block ends.

    Yields:
        The domain id.

    Raises:
        DemoError: ``domain_id`` lies outside ``PRIVATE_DOMAINS``, or every one is held.
    """
    low, high = PRIVATE_DOMAINS
    if domain_id is not None and not low <= domain_id <= high:
        raise DemoError(f"ROS domain {domain_id}: the demo uses a private domain in {low}..{high}")
    claim = claim_private_domain() if domain_id is None else DomainClaim(domain_id)
    try:
        with _private_environment(claim.domain):
            yield claim.domain
    finally:
        claim.release()


@contextmanager
def _private_environment(domain: int) -> Iterator[None]:
    """``private_ros_domain``'s variables for ``domain``, restored afterwards."""
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
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
