"""The vision-language-action policy library (configuration, model, training); never imports rclpy.

The cross-attention policy lands with issue #3; until then this package is empty.
"""
