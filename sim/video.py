"""MP4 writing through the ffmpeg binary that ships inside ``imageio-ffmpeg``, and the caption that
video frames carry: what the robot was told, what it understood, what it is doing and how the
episode ended (:func:`caption_lines` -> :func:`draw_status`).

Text is drawn with OpenCV's Hershey fonts, which are ASCII-only. A line with other characters (a
Korean instruction) is drawn with Pillow when a font with Hangul glyphs is found on the machine
(``VLA_CAPTION_FONT``, then fontconfig, then the usual places); without one, each such character is
shown as ``?``. The "understood" line is always ASCII, so what the robot understood always shows.

No rclpy and no vla_policy here: the ROS video recorder and offline tools share it.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import unicodedata
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

RGB = tuple[int, int, int]
WHITE: RGB = (240, 240, 240)
GREY: RGB = (170, 170, 170)
GREEN: RGB = (70, 215, 95)
AMBER: RGB = (255, 190, 40)
RED: RGB = (255, 80, 70)
MARKER: RGB = (120, 220, 255)

BAND_ALPHA = 0.62  # how much of the frame under the caption band is darkened
MAX_ROWS_PER_LINE = 2  # a long line wraps once, then is cut with "..."


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


# -- what the caption says -------------------------------------------------------------------------
def state_colour(state: str) -> RGB:
    """Green while acting, amber while holding (or waiting), red once refused or abstained."""
    head = state.split(":", 1)[0].strip().lower()
    if head == "acting":
        return GREEN
    if head in ("refused", "abstained"):
        return RED
    return AMBER


def caption_lines(status: Mapping[str, str] | None, episode: Mapping[str, str] | str | None = None,
                  instruction: str | None = None) -> list[tuple[str, RGB]]:
    """Caption lines (text, RGB colour) of one video frame.

    ``status``: the policy's ``/vla/status`` values (``instruction``, ``understood``, ``refusal``,
    ``state``, ``present_prob``), or None before the policy said anything. ``episode``: the ended
    episode's outcome (``/sim/episode``: its values with ``outcome`` and ``success``, or just the
    outcome text), or None while it runs. ``instruction``: the text on ``/instruction`` when known
    (else the one in ``status``).
    """
    status = dict(status or {})
    text = instruction if instruction is not None else status.get("instruction", "")
    lines: list[tuple[str, RGB]] = [(f'"{text}"', WHITE) if text else ("no instruction yet", GREY)]
    if not status:
        lines.append(("understood: waiting for the policy", AMBER))
    else:
        understood, refusal = status.get("understood", "").strip(), status.get("refusal", "").strip()
        state = (status.get("state") or status.get("message") or "").strip()
        if refusal:
            lines.append((f"REFUSED: {refusal}", RED))
        elif understood:
            line = f"target: {understood}"
            try:
                line += f" (present p={float(status.get('present_prob', '')):.2f})"
            except ValueError:
                pass
            lines.append((line, GREEN))
        else:
            lines.append(("target: none", AMBER))
        if state:
            lines.append((state, state_colour(state)))
    if episode is not None:
        if isinstance(episode, str):
            outcome, success = episode, episode == "success"
        else:
            outcome = episode.get("outcome") or episode.get("message") or "?"
            success = str(episode.get("success", outcome == "success")).lower() == "true"
        lines.append((f"outcome: {outcome}", GREEN if success else RED))
    return lines


# -- where the robot's left is ---------------------------------------------------------------------
def robot_left_side(K: np.ndarray | None = None, T_base_cam: np.ndarray | None = None) -> str:
    """Which side of the image ("left" or "right") the robot's left (+y of the base frame) is on,
    from the camera's projection; defaults: the simulator's nominal camera (``CameraConfig``)."""
    from .camera import PinholeCamera, project_points

    if K is None or T_base_cam is None:
        cam = PinholeCamera.nominal()
        K, T_base_cam = cam.K, cam.T_base_cam
    # Two points on the table in front of the robot, 20 cm to its left (+y) and to its right.
    left, right = project_points(K, T_base_cam, [[0.45, 0.2, 0.0], [0.45, -0.2, 0.0]])[:, 0]
    return "right" if left > right else "left"


# -- text rendering ---------------------------------------------------------------------------------
_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/nanum/NanumGothic.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/unfonts-core/UnDotum.ttf",
    "/usr/share/fonts/truetype/baekmuk/gulim.ttf",
    "/System/Library/Fonts/AppleSDGothicNeo.ttc",
    "/Library/Fonts/AppleGothic.ttf",
    "C:/Windows/Fonts/malgun.ttf",
)


def has_hangul(path: str | os.PathLike) -> bool:
    """True when Pillow can load the font and it draws two different Hangul syllables differently
    (a font without them draws the same missing-glyph box for both)."""
    try:
        from PIL import ImageFont

        font = ImageFont.truetype(str(path), 16)
        a, b = font.getmask("가"), font.getmask("힣")
    except (ImportError, OSError, ValueError):
        return False
    return a.getbbox() is not None and (a.size != b.size or bytes(a) != bytes(b))


@functools.lru_cache(maxsize=None)
def unicode_font() -> str | None:
    """Path of a font with Hangul glyphs (``VLA_CAPTION_FONT``, fontconfig's Korean fonts, known
    places), or None: then non-ASCII characters show as ``?``."""
    found: list[str] = []
    if os.environ.get("VLA_CAPTION_FONT"):
        found.append(os.environ["VLA_CAPTION_FONT"])
    if shutil.which("fc-list"):
        try:
            out = subprocess.run(["fc-list", ":lang=ko", "file"], capture_output=True, text=True, timeout=5).stdout
            found += sorted(line.split(":")[0].strip() for line in out.splitlines() if line.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    found += list(_FONT_CANDIDATES)
    return next((path for path in found if os.path.isfile(path) and has_hangul(path)), None)


def ascii_fallback(text: str) -> str:
    """Text for an ASCII-only font: accents dropped (é -> e), every other non-ASCII character shown
    as ``?`` (one per character: "빨간 컵" -> "?? ?")."""
    def one(ch: str) -> str:
        if ch.isascii():
            return ch
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        return base if base and base.isascii() else "?"

    return "".join(one(ch) for ch in text)


class _Cv2Text:
    """OpenCV Hershey text at a scale for the frame width."""

    def __init__(self, width: int) -> None:
        import cv2

        self.cv2 = cv2
        self.font = cv2.FONT_HERSHEY_SIMPLEX
        self.scale = max(0.35, 0.5 * width / 384)
        self.thickness = 1 if width < 640 else 2
        (_, h), base = cv2.getTextSize("Ag", self.font, self.scale, self.thickness)
        self.ascent, self.row = h, h + base + max(3, round(0.3 * h))

    def measure(self, text: str) -> int:
        return self.cv2.getTextSize(text, self.font, self.scale, self.thickness)[0][0]

    def draw(self, img: np.ndarray, text: str, x: int, top: int, colour: RGB) -> None:
        self.cv2.putText(img, text, (x, top + self.ascent), self.font, self.scale, colour, self.thickness,
                         self.cv2.LINE_AA)


class _PilText:
    """Pillow text (any script the font has) sized to match the OpenCV rows."""

    def __init__(self, path: str, row: int) -> None:
        from PIL import ImageFont

        self.font = ImageFont.truetype(path, max(8, round(0.8 * row)))

    def measure(self, text: str) -> int:
        return int(np.ceil(self.font.getlength(text)))

    def draw(self, img: np.ndarray, text: str, x: int, top: int, colour: RGB) -> None:
        from PIL import Image, ImageDraw

        _, _, right, bottom = self.font.getbbox(text)
        w, h = max(1, right + 2), max(1, bottom + 2)
        h_img, w_img = img.shape[:2]
        x1, y1 = min(w_img, x + w), min(h_img, top + h)
        if x1 <= x or y1 <= top:
            return
        tile = Image.fromarray(np.ascontiguousarray(img[top:y1, x:x1]))
        ImageDraw.Draw(tile).text((0, 0), text, font=self.font, fill=tuple(colour))
        img[top:y1, x:x1] = np.asarray(tile)


def _wrap(text: str, width: int | Sequence[int], measure, max_rows: int) -> list[str]:
    """Greedy word wrap in at most ``max_rows`` rows of ``width`` pixels (or ``width[i]`` for row i,
    the last for the rest); a word wider than a row is split, and the last row is cut with "..."
    when text remains."""
    widths = [width] if isinstance(width, int) else list(width)
    words, rows, current, i = text.split(), [], "", 0
    while i < len(words):
        room = widths[min(len(rows), len(widths) - 1)]
        candidate = f"{current} {words[i]}" if current else words[i]
        if measure(candidate) <= room:
            current, i = candidate, i + 1
            continue
        if current:
            rows.append(current)
            current = ""
        else:  # one word wider than a row
            n = max([k for k in range(1, len(words[i])) if measure(words[i][:k]) <= room], default=1)
            rows.append(words[i][:n])
            words[i] = words[i][n:]
        if len(rows) == max_rows:  # words[i] is still to be shown: cut the last row
            last = rows[-1]
            while last and measure(last + "...") > room:
                last = last[:-1]
            rows[-1] = last.rstrip() + "..."
            return rows
    return rows + [current] if current or not rows else rows


def draw_status(frame: np.ndarray, lines: Sequence[tuple[str, RGB]], left_marker: str | None = None) -> np.ndarray:
    """A copy of ``frame`` ((H, W, 3) uint8 RGB) with ``lines`` (text, RGB colour) in a semi-transparent
    band along its bottom. ``left_marker`` ("left" / "right": the image side of the robot's left, see
    :func:`robot_left_side`) adds a "robot's left" arrow pointing that way at that end of the band's
    first row (in the band, so it never hides the arm entering the view at the top)."""
    import cv2

    out = np.array(frame, dtype=np.uint8, copy=True)
    h, w = out.shape[:2]
    cv = _Cv2Text(w)
    margin = max(4, w // 64)
    label, arrow = "robot's left", max(16, w // 12)
    marker_w = cv.measure(label) + arrow + margin if left_marker in ("left", "right") else 0
    first_w = w - 2 * margin - (marker_w + 2 * margin if marker_w else 0)  # the first row shares the marker's
    fancy = None
    rows: list[tuple[str, RGB, object]] = []
    for text, colour in lines:
        renderer: object = cv
        if not text.isascii():
            path = unicode_font()
            if path is not None:
                fancy = fancy or _PilText(path, cv.row)
                renderer = fancy
            else:
                text = ascii_fallback(text)
        widths = [first_w, w - 2 * margin] if not rows else w - 2 * margin
        for row in _wrap(text, widths, renderer.measure, MAX_ROWS_PER_LINE):
            rows.append((row, tuple(int(c) for c in colour), renderer))
    rows = rows[: max(1, (h // 2 - margin) // cv.row)]  # never more than half the frame
    if not rows and not marker_w:
        return out
    top = h - (max(1, len(rows)) * cv.row + 2 * margin - (cv.row - cv.ascent) // 2)
    out[top:] = (out[top:].astype(np.float32) * (1.0 - BAND_ALPHA)).astype(np.uint8)
    y = top + margin
    text_x = margin + (marker_w + 2 * margin if left_marker == "left" else 0)
    for k, (text, colour, renderer) in enumerate(rows):
        renderer.draw(out, text, text_x if k == 0 else margin, y, colour)
        y += cv.row
    if marker_w:
        mid = top + margin + cv.ascent // 2
        if left_marker == "right":  # "robot's left ->" against the right edge
            cv.draw(out, label, w - margin - marker_w, top + margin, MARKER)
            tail, tip = w - margin - arrow, w - margin
        else:  # "<- robot's left" against the left edge
            tail, tip = margin + arrow, margin
            cv.draw(out, label, margin + arrow + margin, top + margin, MARKER)
        cv2.arrowedLine(out, (tail, mid), (tip, mid), MARKER, cv.thickness + 1, cv2.LINE_AA, tipLength=0.3)
    return out
