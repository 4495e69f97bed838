"""Small statistics and reporting types shared by the scenarios."""

import contextlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

MIB = 1024 * 1024


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): no interpolation between samples."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def timed(action: Callable[[], object]) -> float:
    """Seconds one call takes (monotonic clock)."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def reset_peak_rss(pid: int) -> None:
    """Reset the kernel's VmHWM of a process (``clear_refs`` value 5) where permitted."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


@dataclass
class Row:
    """One line of the results table: a measured value against its target."""

    scenario: str
    metric: str
    value: str
    target: str = ""
    met: bool | None = None  # None: informational, no target

    @property
    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: ""}[self.met]


@dataclass
class Outcome:
    """What one scenario produced: table rows plus free-form detail for the report."""

    name: str
    rows: list[Row] = field(default_factory=list)
    detail: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, metric: str, value: str, target: str = "", met: bool | None = None) -> None:
        self.rows.append(Row(self.name, metric, value, target, met))
        print(f"  {metric:<48} {value:<34} {target:<14} {Row('', '', '', '', met).verdict}", flush=True)

    def note(self, text: str) -> None:
        self.detail.append(text)
        print(f"  {text}", flush=True)
