"""Why inputs arrive but no pair forms: the cause and the remedy, in one line.

``PairingMonitor.problem`` compares the synchronizer's counters with those of the previous
diagnostics period and names what is wrong when messages come in but nothing pairs:
an input that receives nothing (no publisher, or a QoS the publisher cannot serve), stamps
that never match (the offset seen and ``approximate_sync``/``slop``), a pair waiting for
a CameraInfo, or a QoS incompatibility reported by the middleware. Free of rclpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ladderseg_ros.frames.sync import SyncStats


@dataclass
class PairingMonitor:
    """Reads the synchronizer's counters each diagnostics period.

    Args:
        topics: The synchronized input topics, in the synchronizer's input order.
        slop: Approximate sync's slop (s); None for exact sync.
        input_qos: The node's ``input_qos`` value (named in the remedy).
    """

    topics: Sequence[str]
    slop: float | None
    input_qos: str
    _received: list[int] = field(default_factory=list)
    _emitted: int = 0
    incompatible_qos: dict[str, str] = field(default_factory=dict)  # topic -> policy

    def qos_incompatible(self, topic: str, policy: str) -> str:
        """Record a requested-QoS incompatibility on ``topic``; returns the warning line."""
        self.incompatible_qos[topic] = policy
        return self._qos_line(topic, policy)

    def _qos_line(self, topic: str, policy: str) -> str:
        other = "reliable" if self.input_qos == "sensor_data" else "sensor_data"
        return (
            f"{topic}: the publisher's QoS is incompatible with input_qos={self.input_qos} "
            f"({policy}): nothing is received; set input_qos:={other} or change the publisher"
        )

    def problem(self, stats: SyncStats, waiting_for: Sequence[str] = ()) -> str:
        """The reason no pair formed in the period since the last call, or ``""``.

        ``waiting_for`` names the CameraInfo topics pairs are held for.
        """
        received = list(stats.received)
        before = self._received or [0] * len(received)
        new = [now - then for now, then in zip(received, before, strict=True)]
        emitted = stats.emitted - self._emitted
        self._received, self._emitted = received, stats.emitted
        if waiting_for and any(new):
            return (
                f"pairs wait for {' and '.join(waiting_for)}: no CameraInfo received "
                "(is the camera driver publishing it, with a compatible QoS?)"
            )
        if emitted or not any(new):
            if self.incompatible_qos and not emitted:
                return self._qos_line(*next(iter(self.incompatible_qos.items())))
            return ""
        silent = [t for t, n in zip(self.topics, new, strict=True) if n == 0]
        if silent:
            if any(t in self.incompatible_qos for t in silent):
                topic = next(t for t in silent if t in self.incompatible_qos)
                return self._qos_line(topic, self.incompatible_qos[topic])
            heard = [t for t, n in zip(self.topics, new, strict=True) if n]
            return (
                f"{', '.join(heard)} arrive but nothing on {', '.join(silent)}: no pair "
                f"(publisher missing, wrong topic remapping, or its QoS does not match "
                f"input_qos={self.input_qos})"
            )
        offset = stats.nearest_offset
        seen = f"nearest stamps {abs(offset) * 1e3:.3f} ms apart" if offset is not None else ""
        if self.slop is None:
            return (
                f"inputs arrive ({', '.join(map(str, new))} messages) but no stamps are "
                f"equal ({seen or 'no partner queued'}): exact sync pairs equal stamps only; "
                "set approximate_sync:=true"
                + (f" with slop >= {abs(offset):.4f}" if offset is not None else "")
            )
        return (
            f"inputs arrive ({', '.join(map(str, new))} messages) but no stamps within "
            f"slop {self.slop} s ({seen or 'no partner queued'}): raise slop"
            + (f" to >= {abs(offset):.4f}" if offset is not None else "")
        )
