"""Wall seconds by named phase: where a recipe's time goes, measured before it is optimised."""

from __future__ import annotations

import contextlib
import time
from typing import Iterator


class PhaseClock:
    """Accumulates wall seconds per phase: ``with clock("data"): ...``."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        self.totals[name] = self.totals.get(name, 0.0) + seconds

    def seconds(self, elapsed: float | None = None) -> dict[str, float]:
        """Each phase's seconds; with ``elapsed``, also ``other``: the rest of that wall time."""
        out = {name: round(value, 2) for name, value in self.totals.items()}
        if elapsed is not None:
            out["other"] = round(max(0.0, elapsed - sum(self.totals.values())), 2)
        return out


def describe(seconds: dict[str, float]) -> str:
    """``data 21 % (12.0 s), forward 30 % (18.2 s), ...``: shares of the total, largest first."""
    total = max(sum(seconds.values()), 1e-9)
    return ", ".join(f"{name} {100 * value / total:.0f} % ({value:.1f} s)"
                     for name, value in sorted(seconds.items(), key=lambda kv: -kv[1]))
