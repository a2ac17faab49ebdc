"""The ROS 2 side: the node, lifecycle node, subscriptions, parameters, replay."""
