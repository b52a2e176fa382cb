"""MP4 writing through the ffmpeg binary that ships inside ``imageio-ffmpeg``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np


def write_mp4(path: str | os.PathLike, frames: Sequence[np.ndarray], fps: int = 10) -> str:
    """Encode (H, W, 3) uint8 frames as H.264 (yuv420p, plays in browsers); returns the path."""
    import imageio.v2 as imageio

    if not frames:
        raise ValueError("no frames to write")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with imageio.get_writer(out, fps=fps, codec="libx264", quality=8, pixelformat="yuv420p",
                            macro_block_size=8, ffmpeg_log_level="error") as writer:
        for frame in frames:
            writer.append_data(np.asarray(frame, dtype=np.uint8))
    return str(out)
