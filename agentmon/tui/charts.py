"""plotext charts drawn into Rich Text for a Textual widget."""

from __future__ import annotations

import threading
import time

from rich.text import Text

_plotext_lock = threading.Lock()  # plotext keeps one global figure


def line_chart(
    series: dict[str, list[float | None]],
    width: int,
    height: int,
    now: float,
    bucket_seconds: float,
    title: str,
    percent: bool = True,
    color: bool = True,
) -> Text:
    """Lines over time buckets ending at `now`; gaps where a bucket counted nothing."""
    import plotext as plt

    n = max((len(v) for v in series.values()), default=0)
    with _plotext_lock:
        plt.clf()
        plt.plotsize(max(width, 20), max(height, 6))
        plt.theme("clear" if not color else "pro")
        plt.title(title)
        drawn = False
        for name, values in series.items():
            points = [(i, v * 100 if percent else v) for i, v in enumerate(values) if v is not None]
            if points:
                xs, ys = zip(*points)
                plt.plot(xs, ys, label=name, marker="braille")
                drawn = True
        if percent:
            plt.ylim(0, 100)
        if n:
            ticks = sorted({0, n // 2, n - 1})
            plt.xticks(ticks, [_label(now - (n - 1 - i) * bucket_seconds, bucket_seconds) for i in ticks])
            plt.xlim(0, max(n - 1, 1))
        if not drawn:
            plt.text("nothing counted in this window", x=0, y=50 if percent else 0)
        chart = plt.build()
    return Text.from_ansi(chart)


def _label(ts: float, bucket_seconds: float) -> str:
    return time.strftime("%H:%M" if bucket_seconds < 86400 / 4 else "%m-%d", time.localtime(ts))
