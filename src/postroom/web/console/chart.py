"""The dashboard's activity chart: per-10-minute buckets in, one inline SVG out.

A pure function (no I/O, no script, no CDN): succeeded POP3 and IMAP4 logins and SMTP
deliveries are lines, failed logins are columns (POP3's red, IMAP4's orange, side by side), so a
burst of failures (an application that stopped logging in) stands out even next to busy lines.
Hovering a bucket shows its counts (an SVG <title>, no JavaScript). Times are UTC, as the buckets are.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Any, Mapping, Sequence

WIDTH, HEIGHT = 900, 240
LEFT, RIGHT, BOTTOM = 44, 12, 26  # room for the y labels and the x labels
LEGEND_ROW = 18  # the legend's rows above the plot: as many as its items need at this width
MUTED, GRID = "#5b6470", "#e3e6eb"
BUCKET_MINUTES = 10


@dataclass(frozen=True)
class Series:
    key: str  # the bucket field it draws
    label: str
    colour: str
    dash: str = ""  # stroke-dasharray; "" draws a solid line
    bars: bool = False
    level: bool = False  # a level (a queue's length), not a count: the legend shows the latest value
    worst: str = ""  # failures: the summary names the bucket with most of them ("failed POP3 logins")


SERIES = (
    Series("pop3_logins_ok", "POP3 logins succeeded", "#1d7a35"),
    Series("pop3_logins_failed", "POP3 logins failed", "#c0261d", bars=True, worst="failed POP3 logins"),
    Series("imap4_logins_ok", "IMAP4 logins succeeded", "#6a3d9a", "2 2"),
    Series("imap4_logins_failed", "IMAP4 logins failed", "#d9700f", bars=True, worst="failed IMAP4 logins"),
    Series("smtp_delivered", "SMTP deliveries", "#1f5fa8", "6 3"),
)
# The queue viewer's chart (Mail flow > Queues): the outgoing rate and the queue's length.
OUTBOUND_SERIES = (
    Series("outbound_sent", "Recipients sent", "#1d7a35"),
    Series("outbound_failed", "Recipients failed", "#c0261d", bars=True, worst="failed recipients"),
    Series("queue_length", "Queue length (messages)", "#1f5fa8", "6 3", level=True),
)


def nice_scale(largest: int) -> tuple[int, int]:
    """(top, step) of the y axis: a step of 1, 2 or 5 times a power of ten giving at most five
    steps, and the top the first multiple of it at or above `largest` (at least one step)."""
    rough = max(largest, 1) / 4
    power = 10 ** math.floor(math.log10(rough)) if rough >= 1 else 1
    step = next(power * m for m in (1, 2, 5, 10) if power * m >= rough)
    return max(step, math.ceil(largest / step) * step), step


def label_hours(buckets: int) -> int:
    """Hours between x-axis labels: about eight labels whatever the span."""
    hours = buckets * BUCKET_MINUTES / 60
    return next((h for h in (1, 2, 3, 6, 12) if hours / h <= 8), 24)


def _time(bucket: str) -> datetime:
    return datetime.fromisoformat(bucket)


def _axis_label(moment: datetime) -> str:
    return f"{moment.day} {moment:%b}" if (moment.hour, moment.minute) == (0, 0) else f"{moment:%H:%M}"


def _n(value: float) -> str:
    """A coordinate, short: 12.5, 13."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def activity_svg(buckets: Sequence[Mapping[str, Any]], *, title: str = "Activity, last 24 hours",
                 id_prefix: str = "activity", width: int = WIDTH, height: int = HEIGHT,
                 series: Sequence[Series] = SERIES,
                 empty: str = "No POP3 or IMAP4 logins or SMTP deliveries in this period") -> str:
    """The chart of `buckets` (oldest first; each {"bucket": ISO-8601 start, and a count per
    series key}) as an <svg> element, sized by its viewBox to fill its container."""
    count = len(buckets)
    totals = {s.key: (int(buckets[-1].get(s.key, 0)) if buckets else 0) if s.level
              else sum(int(b.get(s.key, 0)) for b in buckets) for s in series}
    legend, rows = _legend(totals, series, width)
    top_margin = 12 + LEGEND_ROW * rows
    plot_w, plot_h = width - LEFT - RIGHT, height - top_margin - BOTTOM
    bottom = top_margin + plot_h
    slot = plot_w / max(count, 1)
    top, step = nice_scale(max((int(b.get(s.key, 0)) for b in buckets for s in series), default=0))

    def y(value: float) -> float:
        return bottom - value / top * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="activity-chart" viewBox="0 0 {width} {height}"'
        f' width="{width}" role="img"'  # console.css shrinks it to its container (no style="": CSP)
        f' aria-labelledby="{id_prefix}-title {id_prefix}-desc" font-family="system-ui, sans-serif" font-size="12">',
        f'<title id="{id_prefix}-title">{escape(title)}</title>',
        f'<desc id="{id_prefix}-desc">{escape(_summary(buckets, totals, series))}</desc>',
    ]
    # y axis: grid lines and counts
    for value in range(0, top + 1, step):
        out.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{_n(y(value))}" y2="{_n(y(value))}" stroke="{GRID}"/>')
        out.append(f'<text x="{LEFT - 6}" y="{_n(y(value) + 4)}" text-anchor="end" fill="{MUTED}">{value}</text>')
    # x axis: a tick and a label at every few whole hours (UTC)
    every = label_hours(count) * 60
    for index, bucket in enumerate(buckets):
        moment = _time(bucket["bucket"])
        if (moment.hour * 60 + moment.minute) % every == 0:
            x = _n(LEFT + index * slot)
            out.append(f'<line x1="{x}" x2="{x}" y1="{bottom}" y2="{bottom + 4}" stroke="{MUTED}"/>')
            out.append(f'<text x="{x}" y="{bottom + 16}" text-anchor="middle" fill="{MUTED}">'
                       f'{escape(_axis_label(moment))}</text>')
    out.append(f'<text x="{LEFT + plot_w}" y="{height - 2}" text-anchor="end" fill="{MUTED}">UTC</text>')
    out.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{bottom}" y2="{bottom}" stroke="{MUTED}"/>')
    # the series: columns first, lines over them
    bars = [s for s in series if s.bars]  # side by side in each bucket's slot
    for index, one in enumerate(bars):
        out.append(_bars(one, buckets, slot, y, bottom, index, len(bars)))
    for one in series:
        if not one.bars:
            out.append(_line(one, buckets, slot, y))
    if not any(int(b.get(s.key, 0)) for b in buckets for s in series):
        out.append(f'<text x="{LEFT + plot_w / 2}" y="{top_margin + plot_h / 2}" text-anchor="middle" fill="{MUTED}">'
                   f'{escape(empty)}</text>')
    out.extend(_hover_targets(buckets, slot, top_margin, plot_h, series))
    out.extend(legend)
    out.append("</svg>")
    return "\n".join(out)


def _head(series: Series) -> str:
    return f'<g class="series" data-series="{series.key}" aria-label="{escape(series.label)}">'


def _bars(series: Series, buckets: Sequence[Mapping[str, Any]], slot: float, y: Any, bottom: float,
          place: int, of: int) -> str:
    """A column per bucket with a count: the `place`-th of `of` columns sharing the slot."""
    width = slot / of
    columns = []
    for index, bucket in enumerate(buckets):
        value = int(bucket.get(series.key, 0))
        if value:
            height = max(bottom - y(value), 2.0)  # one failure must still show
            columns.append(f'<rect x="{_n(LEFT + index * slot + place * width + 0.5)}" y="{_n(bottom - height)}"'
                           f' width="{_n(max(width - 1, 1))}" height="{_n(height)}" fill="{series.colour}"/>')
    return _head(series) + "".join(columns) + "</g>"


def _line(series: Series, buckets: Sequence[Mapping[str, Any]], slot: float, y: Any) -> str:
    points = " ".join(f"{_n(LEFT + (index + 0.5) * slot)},{_n(y(int(bucket.get(series.key, 0))))}"
                      for index, bucket in enumerate(buckets))
    dash = f' stroke-dasharray="{series.dash}"' if series.dash else ""
    return (_head(series) + f'<polyline points="{points}" fill="none" stroke="{series.colour}" stroke-width="1.5"'
            f' stroke-linejoin="round"{dash}/></g>')


def _span(bucket: str) -> str:
    start = _time(bucket)
    return f"{start:%H:%M}–{start + timedelta(minutes=BUCKET_MINUTES):%H:%M} UTC"


def _hover_targets(buckets: Sequence[Mapping[str, Any]], slot: float, top: float, plot_h: float,
                   series: Sequence[Series] = SERIES) -> list[str]:
    """An invisible column per bucket with activity, whose <title> browsers show on hover."""
    targets = []
    for index, bucket in enumerate(buckets):
        values = [int(bucket.get(s.key, 0)) for s in series]
        if any(values):
            text = f"{_span(bucket['bucket'])}: " + ", ".join(f"{s.label} {v}" for s, v in zip(series, values))
            targets.append(f'<rect class="bucket" x="{_n(LEFT + index * slot)}" y="{_n(top)}" width="{_n(slot)}"'
                           f' height="{_n(plot_h)}" fill="#000" fill-opacity="0"><title>{escape(text)}</title></rect>')
    return targets


def _legend(totals: Mapping[str, int], all_series: Sequence[Series], width: int) -> tuple[list[str], int]:
    """The legend's items, flowed into as many rows as the chart's width needs, and that count."""
    items, x, row = [], LEFT, 0
    for series in all_series:
        text = f"{series.label} ({'now ' if series.level else ''}{totals[series.key]})"
        span = 24 + len(text) * 7 + 24  # about 7 px per character at 12 px
        if x > LEFT and x + span - 24 > width - RIGHT:
            x, row = LEFT, row + 1
        y = 14 + row * LEGEND_ROW
        if series.bars:
            swatch = f'<rect x="{x}" y="{y - 6}" width="12" height="12" fill="{series.colour}"/>'
        else:
            dash = f' stroke-dasharray="{series.dash}"' if series.dash else ""
            swatch = (f'<line x1="{x}" x2="{x + 18}" y1="{y}" y2="{y}" stroke="{series.colour}"'
                      f' stroke-width="2"{dash}/>')
        items.append(f'<g class="legend" data-series="{series.key}">{swatch}'
                     f'<text x="{x + 24}" y="{y + 4}" fill="#1b1f24">{escape(text)}</text></g>')
        x += span
    return items, row + 1


def _summary(buckets: Sequence[Mapping[str, Any]], totals: Mapping[str, int],
             series: Sequence[Series] = SERIES) -> str:
    """The chart in words, for screen readers: totals and the worst bucket for failures."""
    text = "Per 10 minutes. Totals: " + ", ".join(f"{s.label} {totals[s.key]}" for s in series if not s.level) + "."
    for level in (s for s in series if s.level):
        text += f" {level.label} in the last bucket: {totals[level.key]}."
    for failures in (s for s in series if s.worst and totals.get(s.key)):
        worst = max(buckets, key=lambda b: int(b.get(failures.key, 0)))
        text += f" Most {failures.worst}: {int(worst[failures.key])} at {_span(worst['bucket'])}."
    return text
