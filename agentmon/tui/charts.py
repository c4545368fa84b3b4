"""plotext charts drawn into Rich Text for a Textual widget."""

from __future__ import annotations

import threading
import time

from rich.text import Text

_plotext_lock = threading.Lock()  # plotext keeps one global figure
NO_DATA = "no data in this window"


def line_chart(
    series: dict[str, list[float | None]],
    width: int,
    height: int,
    now: float,
    bucket_seconds: float,
    title: str,
    percent: bool = True,
    color: bool = True,
    empty: str = NO_DATA,
) -> Text:
    """Lines over time buckets ending at `now`; gaps where a bucket counted too little to judge.

    With nothing to draw, no axes (plotext would invent a -1..1 scale): the title and `empty` (why nothing is
    drawn), as tall as a chart, so the screen does not jump when data arrives."""
    n = max((len(v) for v in series.values()), default=0)
    points = {
        name: [(i, v * 100 if percent else v) for i, v in enumerate(values) if v is not None]
        for name, values in series.items()
    }
    if not any(points.values()):
        return _no_data(title, empty, max(width, 20), max(height, 6))
    import plotext as plt

    with _plotext_lock:
        plt.clf()
        plt.plotsize(max(width, 20), max(height, 6))
        plt.theme("clear" if not color else "pro")
        plt.title(title)
        for name, drawn in points.items():
            if drawn:
                xs, ys = zip(*drawn)
                plt.plot(xs, ys, label=name, marker="braille")
        top = max(y for drawn in points.values() for _, y in drawn)
        plt.ylim(0, 100 if percent else (top * 1.1 or 1.0))  # shares and dollars are never negative
        ticks = sorted({0, n // 2, n - 1})
        span = n * bucket_seconds
        plt.xticks(ticks, [_label(now - (n - 1 - i) * bucket_seconds, bucket_seconds, span) for i in ticks])
        plt.xlim(0, max(n - 1, 1))
        chart = plt.build()
    return Text.from_ansi(chart)


def _no_data(title: str, why: str, width: int, height: int) -> Text:
    lines = [title.center(width)] + [""] * (height - 1)
    lines[height // 2] = why.center(width)
    out = Text("\n".join(line.rstrip() for line in lines))
    out.stylize("bold", 0, len(lines[0]))
    out.highlight_words([why], style="dim")
    return out


def _label(ts: float, bucket_seconds: float, span: float) -> str:
    """Times of day within a day or so; dates beyond; the year too past a year's half."""
    fmt = "%H:%M" if bucket_seconds < 86400 / 4 else "%m-%d" if span < 180 * 86400 else "%Y-%m-%d"
    return time.strftime(fmt, time.localtime(ts))
