"""Bar charts drawn on the server as SVG: nothing loads from elsewhere, and each chart
has its numbers as a table beside it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT, LEFT, BOTTOM = 720, 180, 44, 22


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: date
    value: int


@dataclass(frozen=True)
class Tick:
    y: float
    value: int


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    bars: list[Bar]
    ticks: list[Tick]
    labels: list[Bar]  # the bars whose day is written under the axis
    total: int
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT

    @property
    def html(self) -> SafeString:
        return chart_html(self)


def _nice(top: int) -> int:
    """The smallest 1, 2 or 5 times 10^n at or above `top` (at least 1)."""
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= top:
                return m * step
        step *= 10


def bar_chart(chart_id: str, title: str, points: list[tuple[date, int]]) -> Chart:
    top = _nice(max((v for _, v in points), default=0))
    plot_width = WIDTH - LEFT - 4
    plot_height = HEIGHT - BOTTOM - 8
    slot = plot_width / max(len(points), 1)
    bars = []
    for i, (day, value) in enumerate(points):
        h = plot_height * value / top
        bars.append(
            Bar(LEFT + i * slot + slot * 0.1, HEIGHT - BOTTOM - h, slot * 0.8, h, day, value)
        )
    ticks = [Tick(HEIGHT - BOTTOM - plot_height * f, int(top * f)) for f in (0, 0.5, 1)]
    every = max(len(points) // 6, 1)
    labels = [b for i, b in enumerate(bars) if i % every == 0]
    return Chart(chart_id, title, bars, ticks, labels, sum(v for _, v in points))


def _svg(chart: Chart) -> str:
    # Written here, not in a template: 600 bars and rows cost the template engine a
    # hundred milliseconds a page, string formatting a few.
    parts = [
        f'<svg role="img" aria-labelledby="{chart.id}-title" viewBox="0 0 {chart.width} '
        f'{chart.height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'data-chart="{chart.id}">'
    ]
    for t in chart.ticks:
        parts.append(
            f'<line x1="{chart.left}" x2="{chart.width}" y1="{t.y:.1f}" y2="{t.y:.1f}" '
            f'class="grid"/><text x="{chart.left - 4}" y="{t.y:.1f}" class="tick" '
            f'text-anchor="end" dominant-baseline="middle">{t.value}</text>'
        )
    for b in chart.bars:
        day = b.day.isoformat()
        parts.append(
            f'<rect x="{b.x:.2f}" y="{b.y:.2f}" width="{b.width:.2f}" height="{b.height:.2f}" '
            f'data-day="{day}" data-value="{b.value}"><title>{day}: {b.value}</title></rect>'
        )
    for b in chart.labels:
        parts.append(
            f'<text x="{b.x:.1f}" y="{chart.height - 6}" class="tick">{b.day:%m-%d}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(chart: Chart) -> str:
    rows = "".join(f"<tr><td>{b.day.isoformat()}</td><td>{b.value}</td></tr>" for b in chart.bars)
    return (
        '<table><thead><tr><th scope="col">Day (UTC)</th><th scope="col">Count</th></tr>'
        f"</thead><tbody>{rows}</tbody></table>"
    )


def chart_html(chart: Chart) -> SafeString:
    """The chart and its numbers; every value written is a number or a date, and the
    title is escaped."""
    return mark_safe(
        f'<figure class="ops-chart" aria-labelledby="{chart.id}-title">'
        f'<figcaption id="{chart.id}-title">{escape(chart.title)} ({chart.total} in all)'
        f"</figcaption>{_svg(chart)}<details><summary>The numbers</summary>{_table(chart)}"
        "</details></figure>"
    )
