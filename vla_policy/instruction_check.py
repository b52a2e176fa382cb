"""Is an instruction inside what the policy was trained to follow? Checked before it acts.

The policy learned "pick up the <colour> cup" and its paraphrases. Given anything else
("sing a song", another language, two colours at once, a colour it never saw) a learned
policy still outputs *some* motion; a robot must not guess. An instruction is understood
when, as words, it names exactly one colour the policy knows and an object word of the task.
Whether that cup is on the table is the policy's own call (its target-present head abstains).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

MAX_INSTRUCTION_CHARS = 500


class InstructionNotUnderstood(ValueError):
    """The instruction cannot be acted on; the message says why, in one line."""


def normalise(text: str) -> str:
    """NFKC, control characters dropped, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" or ch in " \t\n")
    return " ".join(text.split())


def check_instruction(text: str, colours: Sequence[str], objects: Sequence[str]) -> str:
    """The normalised instruction, or :class:`InstructionNotUnderstood` saying why not."""
    if not isinstance(text, str):
        raise InstructionNotUnderstood(f"instruction must be text, got {type(text).__name__}")
    clean = normalise(text)
    if not clean:
        raise InstructionNotUnderstood("empty instruction")
    if len(clean) > MAX_INSTRUCTION_CHARS:
        raise InstructionNotUnderstood(f"instruction of {len(clean)} characters (at most {MAX_INSTRUCTION_CHARS})")
    words = set(re.findall(r"[a-z]+", clean.casefold()))
    named = sorted(set(colours) & words)
    if not named:
        raise InstructionNotUnderstood(f"names no colour this policy knows ({', '.join(colours)})")
    if len(named) > 1:
        raise InstructionNotUnderstood(f"names {len(named)} colours ({', '.join(named)}); say which one cup")
    if not set(objects) & words:
        raise InstructionNotUnderstood(f"names no object this policy knows ({', '.join(objects)})")
    return clean
