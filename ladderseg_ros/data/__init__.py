"""Datasets (Cityscapes, KITTI, VOC, the synthetic world), their file layouts, transforms."""
