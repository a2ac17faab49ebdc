"""ladderseg_ros: stereo semantic segmentation with Ladder-DenseNet and scale selection."""

__version__ = "0.1.0"
