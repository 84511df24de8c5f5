"""Server-rendered bar charts: the geometry of horizontal bars, drawn as SVG by ``pages/_charts.html``.

No JavaScript and no chart library: a chart is a few rectangles, and the same figures are in the table
beside it (for screen readers, and for the CSV export).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Bar", "Chart", "bars"]

WIDTH = 640
LABEL_WIDTH = 230
VALUE_WIDTH = 60
BAR_HEIGHT = 14
GAP = 10


@dataclass(frozen=True)
class Bar:
    series: int  # 1, 2 or 3: the colour and the legend entry
    x: int
    y: int
    width: int
    value: float


@dataclass
class Chart:
    width: int
    height: int
    unit: str
    rows: list[tuple[str, int]] = field(default_factory=list)  # label and its baseline y
    bars: list[Bar] = field(default_factory=list)
    axis_x: int = LABEL_WIDTH


def bars(rows: Sequence[tuple[object, ...]], *, unit: str = "", maximum: float | None = None) -> Chart:
    """Rows of ``(label, value, [value2, [value3]])``; every series on one scale, starting at zero."""
    series = max((len(r) - 1 for r in rows), default=1)
    values = [float(v or 0) for r in rows for v in r[1:]]
    top = maximum or max(values, default=0) or 1
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    row_height = series * (BAR_HEIGHT + 2) + GAP
    chart = Chart(width=WIDTH, height=max(row_height * len(rows) + GAP, 40), unit=unit)
    for i, row in enumerate(rows):
        y = GAP + i * row_height
        label = str(row[0])
        chart.rows.append((label if len(label) <= 34 else label[:33] + "…", y + (series * (BAR_HEIGHT + 2)) // 2 + 4))
        for s, value in enumerate(row[1:]):
            v = float(value or 0)
            chart.bars.append(Bar(series=s + 1, x=LABEL_WIDTH, y=y + s * (BAR_HEIGHT + 2),
                                  width=max(int(round(span * min(v, top) / top)), 0), value=v))
    return chart
