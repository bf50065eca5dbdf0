"""Alternated rounds: every subject and every baseline measured in turn, several times, so
that a machine whose load drifts (a shared 2-core box) tilts no row against another.

``alternate`` runs each named measurement once per round, rotating which goes first, and
returns every figure; ``spread`` prints the median with the lowest and highest, and
``ratio`` divides medians. Tables quote ``median (min–max)`` so a reader sees the noise.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence

__all__ = ["alternate", "median", "ratio", "spread", "table"]


def alternate(
    rounds: int,
    measurements: Mapping[str, Callable[[], float]],
    *,
    log: Callable[[str], None] | None = None,
) -> dict[str, list[float]]:
    """Run every measurement once per round, the order rotated each round; all figures."""
    names = list(measurements)
    figures: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(rounds):
        shift = round_number % len(names) if names else 0
        for name in names[shift:] + names[:shift]:
            value = measurements[name]()
            figures[name].append(value)
            if log is not None:
                log(f"round {round_number + 1}/{rounds}: {name} = {value:,.1f}")
    return figures


def median(values: Sequence[float]) -> float:
    """The median (nan for no values)."""
    return statistics.median(values) if values else float("nan")


def spread(values: Sequence[float], digits: int = 0) -> str:
    """``median (min–max)``, thousands separated; one value alone is printed alone."""
    if not values:
        return "-"
    fmt = f"{{:,.{digits}f}}"
    if len(values) == 1:
        return fmt.format(values[0])
    low, high = min(values), max(values)
    return f"{fmt.format(median(values))} ({fmt.format(low)}–{fmt.format(high)})"


def ratio(subject: Sequence[float], baseline: Sequence[float]) -> float:
    """Median over median."""
    base = median(baseline)
    return median(subject) / base if base else float("nan")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table with ``|`` between columns, as the README quotes them."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = [" | ".join(str(c).ljust(w) for c, w in zip(header, widths)).rstrip()]
    lines.append(" | ".join("-" * w for w in widths))
    lines += [" | ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)
