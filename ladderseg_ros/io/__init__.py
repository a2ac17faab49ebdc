"""The io layer: messages <-> arrays, rosbag2 storage, messages -> frame -> messages.

``messages`` converts, ``bags`` stores, ``pipeline`` is the per-frame path from
synchronized messages to output messages.

Works with rclpy messages and with rosbags' deserialized ones alike and imports neither
rclpy nor a ROS message package, so the offline tools run where ROS is not installed.
"""
