"""The calibration chart as SVG, drawn on the server by a pure function.

One panel per model: dots for the share of drafts approved per confidence bin
(area by number of drafts), the escalation-rate and error-rate curves against
``min_confidence``, a dashed diagonal for perfect calibration, and vertical
lines at the configured and the suggested threshold. Everything drawn comes
from numbers and escaped names, so the SVG carries no client text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from xml.sax.saxutils import escape

from gateway.export.calibration import Calibration

WIDTH, HEIGHT = 640, 360
LEFT, RIGHT, TOP, BOTTOM = 56, 168, 40, 44  # margins around the plot area
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
COLOURS = {"approved": "#2f6fb0", "escalation": "#c07a00", "error": "#c0392b", "chosen": "#2e8b57"}


def _x(value: float) -> float:
    return round(LEFT + value * PLOT_W, 1)


def _y(value: float) -> float:
    return round(TOP + (1 - value) * PLOT_H, 1)


def _vline(x: float, style: str) -> str:
    return f'<line x1="{x}" x2="{x}" y1="{TOP}" y2="{TOP + PLOT_H}" {style}/>'


def _text(x: float, y: float, text: str, style: str = 'class="axis"') -> str:
    return f'<text x="{x}" y="{y}" {style}>{escape(text)}</text>'


def panel(c: Calibration, top: int = 0) -> list[str]:
    """The SVG elements of one model's chart, shifted down by ``top``."""
    out = [f'<g transform="translate(0,{top})">']
    title = f"{c.model}: {c.samples} reviewed drafts"
    out.append(f'<text x="{LEFT}" y="22" class="title">{escape(title)}</text>')
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{PLOT_W}" height="{PLOT_H}" class="frame"/>')
    for i in range(6):
        value = i / 5
        y = _y(value)
        out.append(f'<line x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{y}" y2="{y}" class="grid"/>')
        out.append(_text(LEFT - 6, y + 4, f"{value:.0%}", 'class="axis" text-anchor="end"'))
        middle = 'class="axis" text-anchor="middle"'
        out.append(_text(_x(value), TOP + PLOT_H + 16, f"{value:.1f}", middle))
    out.append(
        f'<text x="{LEFT + PLOT_W / 2}" y="{TOP + PLOT_H + 34}" class="axis" text-anchor="middle">'
        "confidence / min_confidence</text>"
    )
    out.append(f'<line x1="{_x(0)}" y1="{_y(0)}" x2="{_x(1)}" y2="{_y(1)}" class="diagonal"/>')
    for name, attribute in (("escalation", "escalation_rate"), ("error", "error_rate")):
        if c.curve:
            points = [(p.threshold, getattr(p, attribute)) for p in c.curve]
            # A rate at threshold t counts confidences below t, so it holds on (previous, t].
            (t0, v0), *rest = points
            steps = [f"{_x(t0)},{_y(v0)}"]
            previous = t0
            for t, v in rest:
                steps.append(f"{_x(previous)},{_y(v)} {_x(t)},{_y(v)}")
                previous = t
            out.append(
                f'<polyline points="{" ".join(steps)}" fill="none" '
                f'stroke="{COLOURS[name]}" stroke-width="2"/>'
            )
    biggest = max((b.count for b in c.bins), default=0) or 1
    for b in c.bins:
        if b.count and b.rate is not None:
            radius = round(3 + 7 * math.sqrt(b.count / biggest), 1)
            centre = (b.low + b.high) / 2
            out.append(
                f'<circle cx="{_x(centre)}" cy="{_y(b.rate)}" r="{radius}" '
                f'fill="{COLOURS["approved"]}" fill-opacity="0.75"><title>'
                f"{b.low:.1f}-{b.high:.1f}: {b.approved}/{b.count} approved</title></circle>"
            )
    if c.current is not None:
        out.append(_vline(_x(c.current), 'class="current"'))
    if c.chosen is not None:
        style = f'stroke="{COLOURS["chosen"]}" stroke-width="2"'
        out.append(_vline(_x(c.chosen.threshold), style))
    out += _legend(c)
    out.append("</g>")
    return out


def _legend(c: Calibration) -> list[str]:
    x = LEFT + PLOT_W + 14
    rows = [
        (COLOURS["approved"], "approved share (dots)"),
        (COLOURS["escalation"], "escalation rate"),
        (COLOURS["error"], "error rate"),
    ]
    if c.current is not None:
        rows.append(("#777", f"configured {c.current:.2f}"))
    if c.chosen is not None:
        rows.append((COLOURS["chosen"], f"suggested {c.chosen.threshold:.2f}"))
    out = []
    for i, (colour, label) in enumerate(rows):
        y = TOP + 8 + i * 20
        out.append(f'<rect x="{x}" y="{y - 8}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{x + 18}" y="{y + 2}" class="legend">{escape(label)}</text>')
    return out


def calibration_svg(calibrations: Sequence[Calibration]) -> str:
    """A standalone SVG document with one panel per model (a note when there are none)."""
    height = HEIGHT * max(len(calibrations), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" role="img">',
        "<style>.title{font-size:14px;font-weight:600}.axis,.legend{font-size:11px;fill:#333}"
        ".frame{fill:#fff;stroke:#999}.grid{stroke:#eee}"
        ".diagonal{stroke:#aaa;stroke-dasharray:4 4}.current{stroke:#777;stroke-dasharray:6 3}"
        "</style>",
        f'<rect width="{WIDTH}" height="{height}" fill="#fafafa"/>',
    ]
    if not calibrations:
        parts.append(f'<text x="{LEFT}" y="40" class="title">No reviewed drafts yet.</text>')
    for index, calibration in enumerate(calibrations):
        parts += panel(calibration, index * HEIGHT)
    parts.append("</svg>")
    return "\n".join(parts)
