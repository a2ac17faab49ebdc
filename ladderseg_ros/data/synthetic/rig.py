"""The stereo rig: a level, rectified pair with one focal length; the two dataset presets."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ladderseg_ros.data.layouts import CameraCalib
from ladderseg_ros.errors import LadderSegError

NEAR = 0.25  # metres: the closest surface a ray may hit


class SyntheticError(LadderSegError, ValueError):
    """A rig or rendering request is invalid."""


@dataclass(frozen=True)
class StereoRig:
    """A level, rectified stereo rig: square pixels, one focal length, right camera at +x.

    Attributes:
        width, height: Image size in pixels.
        focal: Focal length in pixels.
        baseline: Distance between the optical centres in metres.
        camera_height: Height of the optical centres above the road in metres.
        cx, cy: Principal point; ``None`` = image centre.
    """

    width: int
    height: int
    focal: float
    baseline: float
    camera_height: float = 1.65
    cx: float | None = None
    cy: float | None = None

    def __post_init__(self) -> None:
        if self.width < 16 or self.height < 16:
            raise SyntheticError(f"rig size must be at least 16x16, got {self.width}x{self.height}")
        if not (self.focal > 0 and self.baseline > 0 and self.camera_height > NEAR):
            raise SyntheticError(
                f"rig needs focal > 0, baseline > 0, camera_height > {NEAR}: got "
                f"{self.focal}, {self.baseline}, {self.camera_height}"
            )
        if self.cx is None:
            object.__setattr__(self, "cx", (self.width - 1) / 2.0)
        if self.cy is None:
            object.__setattr__(self, "cy", (self.height - 1) / 2.0)

    def resized(self, width: int, height: int) -> StereoRig:
        """The same rig imaged at another size: focal scales with the width ratio."""
        sx, sy = width / self.width, height / self.height
        return replace(
            self,
            width=int(width),
            height=int(height),
            focal=self.focal * sx,
            cx=(self.cx + 0.5) * sx - 0.5,
            cy=(self.cy + 0.5) * sy - 0.5,
        )

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width), as the rendered arrays."""
        return self.height, self.width

    @property
    def calib(self) -> CameraCalib:
        """The rig's left camera as the datasets' calibration (fx = fy = focal, baseline)."""
        return CameraCalib(self.focal, self.focal, float(self.cx), float(self.cy), self.baseline)

    def projections(self) -> tuple[np.ndarray, np.ndarray]:
        """Rectified 3x4 projections (left Tx = 0, right Tx = -focal * baseline)."""
        p_left = np.array(
            [[self.focal, 0, self.cx, 0], [0, self.focal, self.cy, 0], [0, 0, 1, 0]], float
        )
        p_right = p_left.copy()
        p_right[0, 3] = -self.focal * self.baseline
        return p_left, p_right


KITTI_RIG = StereoRig(1242, 375, 721.5377, 0.54, 1.65, 609.5593, 172.854)
CITYSCAPES_RIG = StereoRig(2048, 1024, 2262.52, 0.209313, 1.22, 1096.98, 513.137)
RIGS: dict[str, StereoRig] = {"kitti": KITTI_RIG, "cityscapes": CITYSCAPES_RIG}
