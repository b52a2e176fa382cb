"""ament_python package ``vla_ros``: also a plain pip-installable Python project.

Import packages: ``vla_sim`` (from ``sim/``), ``vla_policy`` and ``vla_ros``.
The simulator directory is installed as ``vla_sim`` so that installing the
project never shadows some other top-level ``sim`` module.
"""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "vla_ros"

packages = find_packages(include=["vla_ros", "vla_ros.*", "vla_policy", "vla_policy.*"])
packages += ["vla_sim"] + ["vla_sim." + p for p in find_packages(where="sim")]

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Vision-language-action stack for ROS 2: PyBullet simulator, cross-attention policy, ROS 2 nodes",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=packages,
    package_dir={"vla_sim": "sim"},
    # The shipped policy checkpoints (`--policy default`; colour_v2, the referring recipe's start; from_bags,
    # trained on recordings only, and from_bags_colour, its colour-only start) and the instruction-understanding model.
    package_data={"vla_policy": [f"checkpoints/{name}/*.{ext}"
                                 for name in ("default", "colour_v2", "from_bags", "from_bags_colour", "understanding")
                                 for ext in ("json", "safetensors", "md")]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.py") + glob("launch/*.xml") + glob("launch/*.yaml")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml")),
    ],
    install_requires=[
        "torch==2.13.0",  # the CPU build on local disk; any other version pulls GBs of CUDA wheels
        "numpy>=1.24",
        "pybullet==3.2.7",
        "gymnasium>=1.0",
        "tqdm>=4.60",
        "imageio>=2.30",
        "imageio-ffmpeg>=0.5",
        "transformers>=4.40",
        "safetensors>=0.4",
        "opencv-python-headless>=4.8",  # colour conversion, resizing camera frames, video captions
        "matplotlib>=3.7",  # its 1,100 named colours give colour words their meaning (vla_policy.colour_names)
        "pillow>=10",  # captions in scripts cv2's fonts lack (Korean), where a font has them
        "pyyaml>=6",
        "setuptools",
    ],
    extras_require={
        # ROS 2 Jazzy from PyPI; users with a system ROS 2 install skip this extra.
        "ros": [
            "ros-jazzy-rclpy[fastrtps]",
            "ros-jazzy-std-msgs",
            "ros-jazzy-sensor-msgs",
            "ros-jazzy-geometry-msgs",
            "ros-jazzy-std-srvs",
            "ros-jazzy-trajectory-msgs",
            "ros-jazzy-diagnostic-msgs",
            "rosbags>=0.10",  # rosbag2 (MCAP) reading and writing in pure Python
        ],
        "dev": [
            "pytest>=8",
            "pytest-timeout>=2.3",
            "colcon-common-extensions",  # build ros2_ws/ without a system ROS 2
            "ros-jazzy-ament-package",
            "ros-jazzy-ament-index-python",
        ],
    },
    zip_safe=True,
    entry_points={"console_scripts": [
        "vla = vla_ros.cli:main",
        "vla_sim_node = vla_ros.sim_node:main",
        "vla_policy_node = vla_ros.policy_node:main",
        "vla_video_recorder = vla_ros.video_recorder:main",
        "vla_expert_commander = vla_ros.expert_commander:main",
    ]},
)
