"""ROS 2 adapters over ``vla_sim`` and ``vla_policy``, and the ``vla`` command line."""
