"""The frame layer: one stereo frame as arrays in, the node's outputs as arrays out.

No message type appears here: ``ladderseg_ros.io`` turns messages (rclpy's or rosbags')
into a ``StereoFrame`` and the outputs back into messages, so the live node and the offline
``segment-bag`` drive the same ``FrameProcessor``. ``StampSynchronizer`` pairs anything by
the integer stamps it is handed.

Modules: ``frame`` (``StereoFrame``, ``FrameResult``: light, numpy only), ``processor``
(``FrameProcessor``: OpenCV, the Segmenter), ``sync`` (``StampSynchronizer``). Nothing is
imported here, so that a command's ``--help`` loads none of them.
"""
