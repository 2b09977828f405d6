"""Pictures for the evidence report, drawn without any imaging library.

A report is read by people who have nothing but a browser, and it is pinned to IPFS, so every picture is
inline: PNGs encoded here by hand (``encode_png``) and SVG text. Nothing in this module touches the network
or the file system.

Colour conventions, shared by every picture so a reader learns them once:

- a bit +1 is white, −1 is black;
- an attribution W > 0 (bit +1) is red, W < 0 (bit −1) is blue, stronger for larger |W|;
- a bit that differs from the reference is red on a pale background.
"""

from __future__ import annotations

import base64
import html
import math
import struct
import zlib

import numpy as np

from verifier.errors import VerifierError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIN_CELL_PX = 8  # each bit at least this many pixels wide, so a reader can count them
TARGET_PX = 160  # the size pictures are enlarged to, roughly

_GRID = np.array([150, 150, 150], dtype=np.uint8)
_WHITE = np.array([255, 255, 255], dtype=np.uint8)
_BLACK = np.array([0, 0, 0], dtype=np.uint8)
_PALE = np.array([232, 236, 240], dtype=np.uint8)
_MISMATCH = np.array([220, 38, 38], dtype=np.uint8)
_POSITIVE = np.array([0.86, 0.15, 0.15])  # red, float RGB for blending
_NEGATIVE = np.array([0.15, 0.39, 0.92])  # blue
_MAX_TINT = 0.7  # the strongest attribution still lets the trigger show through


class RenderError(VerifierError):
    """An array handed to the renderer has the wrong shape or type (a bug in the caller, not in the data)."""


def encode_png(rgb: np.ndarray) -> bytes:
    """Encode an (H, W, 3) uint8 array as an 8-bit truecolour PNG (filter 0 on every row, one IDAT)."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or 0 in rgb.shape:
        raise RenderError(f"a PNG needs a non-empty (H, W, 3) uint8 array, not {rgb.dtype} {rgb.shape}")
    height, width, _ = rgb.shape
    rows = np.ascontiguousarray(rgb).reshape(height, width * 3)
    raw = np.concatenate([np.zeros((height, 1), dtype=np.uint8), rows], axis=1).tobytes()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # depth 8, colour type 2 (RGB)
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )


def png_data_uri(rgb: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(encode_png(rgb)).decode("ascii")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bit_layout(n: int) -> tuple[int, int]:
    """(rows, columns) of a bit picture: a √n × √n square when n is a perfect square, else one row."""
    side = math.isqrt(n)
    return (side, side) if side * side == n else (1, n)


def bits_image(bits: np.ndarray) -> np.ndarray:
    """±1 bits as black/white squares on a thin grid, in row-major order (the order of the segments)."""
    colours = np.where(np.asarray(bits).reshape(-1, 1) > 0, _WHITE, _BLACK)
    return _cells(colours)


def mismatch_image(extracted: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Red where the extracted bit differs from the reference bit, pale where they agree."""
    differs = np.asarray(extracted).reshape(-1, 1) != np.asarray(reference).reshape(-1, 1)
    return _cells(np.where(differs, _MISMATCH, _PALE))


def _cells(colours: np.ndarray) -> np.ndarray:
    """Lay out one colour per bit as enlarged cells framed by one-pixel grid lines."""
    rows, cols = bit_layout(len(colours))
    cell = cell_px(rows, cols)
    image = np.repeat(np.repeat(colours.reshape(rows, cols, 3), cell, axis=0), cell, axis=1)
    image = np.pad(image, ((1, 0), (1, 0), (0, 0)))  # lines at 0, cell, 2·cell, … frame every cell
    image[::cell, :] = _GRID
    image[:, ::cell] = _GRID
    return image


def cell_px(rows: int, cols: int) -> int:
    """Pitch of one bit's cell, grid line included, so its inside is at least ``MIN_CELL_PX`` wide."""
    return max(MIN_CELL_PX + 1, TARGET_PX // max(rows, cols))


def normalised(weights: np.ndarray) -> np.ndarray:
    """W scaled into [−1, 1] by its largest finite magnitude; non-finite values become 0 (no colour)."""
    w = np.where(np.isfinite(weights), weights, 0.0).astype(np.float64)
    peak = float(np.max(np.abs(w))) if w.size else 0.0
    return w / peak if peak > 0 else w


def attribution_image(trigger: np.ndarray, assignment: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The trigger, enlarged, with each segment tinted red (W > 0) or blue (W < 0) by its attribution.

    ``trigger`` is one image, (C, H, W) or (H, W); three channels are shown in colour, anything else in
    grayscale. ``assignment`` has the trigger's shape and names each element's segment. Segment borders are
    drawn so a reader can match segments to bits.
    """
    trigger, assignment = _channels_first(trigger), _channels_first(assignment)
    base = _display_rgb(trigger)  # (H, W, 3) in [0, 1]
    tint = normalised(weights)[assignment].mean(axis=0)  # (H, W) in [−1, 1]
    colour = np.where(tint[..., None] > 0, _POSITIVE, _NEGATIVE)
    alpha = _MAX_TINT * np.abs(tint)[..., None]
    blended = base * (1 - alpha) + colour * alpha
    scale = max(1, math.ceil(TARGET_PX / max(blended.shape[:2])))
    image = np.repeat(np.repeat(blended, scale, axis=0), scale, axis=1)
    _draw_borders(image, np.repeat(np.repeat(assignment[0], scale, axis=0), scale, axis=1))
    return np.round(image * 255).astype(np.uint8)


def _channels_first(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 2:
        return array[None]
    if array.ndim != 3:
        raise RenderError(f"an image trigger is (C, H, W) or (H, W), not {array.shape}")
    return array


def _display_rgb(trigger: np.ndarray) -> np.ndarray:
    """Pixel values as displayable RGB: clipped to [0, 1] when they lie there, else stretched to fit."""
    values = np.where(np.isfinite(trigger), trigger, 0.0).astype(np.float64)
    low, high = float(values.min()), float(values.max())
    if low < 0 or high > 1:
        values = (values - low) / (high - low) if high > low else np.zeros_like(values)
    rgb = values if values.shape[0] == 3 else np.repeat(values.mean(axis=0, keepdims=True), 3, axis=0)
    return np.transpose(rgb, (1, 2, 0))


def _draw_borders(image: np.ndarray, segments: np.ndarray) -> None:
    """Darken the pixels where the segment changes to the right or below (in place)."""
    edge = np.zeros(segments.shape, dtype=bool)
    edge[:-1, :] |= segments[:-1, :] != segments[1:, :]
    edge[:, :-1] |= segments[:, :-1] != segments[:, 1:]
    image[edge] = image[edge] * 0.5 + 0.25


def bar_chart_svg(weights: np.ndarray, reference: np.ndarray) -> str:
    """Inline SVG: one bar per segment (W, red above / blue below zero), with the reference bit's side marked.

    A bar that points away from its marker is a bit that does not match. The SVG has no namespace URL:
    inline SVG in HTML needs none, and the page must not name any remote address.
    """
    w, ref = np.asarray(weights, dtype=np.float64).reshape(-1), np.asarray(reference).reshape(-1)
    n = len(w)
    bar = max(4, min(32, 640 // max(n, 1)))
    left, top, half = 8, 16, 60
    width, height, zero = left * 2 + n * bar, top * 2 + half * 2 + 14, top + half
    scaled = normalised(w)
    parts = [
        f'<svg class="bars" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">',
        f'<line x1="{left}" y1="{zero}" x2="{width - left}" y2="{zero}" stroke="#888"/>',
    ]
    for i in range(n):
        parts.append(_bar(i, w[i], scaled[i], int(ref[i]), x=left + i * bar, bar=bar, zero=zero, half=half))
    if n <= 32:
        parts += [
            f'<text x="{left + i * bar + bar / 2:g}" y="{height - 2}" font-size="10" text-anchor="middle">{i}</text>'
            for i in range(n)
        ]
    parts.append("</svg>")
    return "\n".join(parts)


def _bar(i: int, raw: float, scaled: float, ref: int, *, x: int, bar: int, zero: int, half: int) -> str:
    length = abs(scaled) * half
    y = zero - length if scaled > 0 else zero
    fill = "#dc2626" if scaled > 0 else "#2563eb"
    extracted, expected = ("+1" if raw > 0 else "−1"), ("+1" if ref > 0 else "−1")
    tip = html.escape(f"segment {i}: W = {raw:.4g}, extracted {extracted}, reference {expected}")
    mark_y = zero - half - 4 if ref > 0 else zero + half + 4  # a triangle on the side the reference expects
    point = mark_y + (4 if ref > 0 else -4)
    centre = x + bar / 2
    marker = f"{centre - 4:g},{mark_y:g} {centre + 4:g},{mark_y:g} {centre:g},{point:g}"
    return (
        f"<g><title>{tip}</title>"
        f'<rect x="{x + 1}" y="{y:.2f}" width="{bar - 2}" height="{length:.2f}" fill="{fill}"/>'
        f'<polygon points="{marker}" fill="#111"/></g>'
    )


def null_histogram_svg(null_scores: np.ndarray, suspect_score: float, *, label: str = "−log10 p") -> str:
    """Inline SVG: a histogram of the null models' scores with the suspect's score as a red line.

    Scores grow with the evidence (−log10 of the Fisher p), so the suspect is a copy only far to the right of
    every grey bar. Non-finite scores (p = 0 underflows) are clipped to the largest finite one.
    """
    nulls = np.asarray(null_scores, dtype=np.float64).reshape(-1)
    values = np.append(nulls, suspect_score)
    finite = values[np.isfinite(values)]
    top = float(finite.max()) if finite.size else 1.0
    values = np.where(np.isfinite(values), values, top)
    nulls, suspect = values[:-1], float(values[-1])
    low, high = 0.0, max(1.0, float(values.max())) * 1.05
    bins = max(5, min(40, 2 * int(math.sqrt(max(len(nulls), 1)))))
    counts, edges = np.histogram(nulls, bins=bins, range=(low, high))
    width, height, left, bottom, top_pad = 480, 180, 36, 28, 10
    plot_w, plot_h = width - left - 10, height - bottom - top_pad
    peak = max(1, int(counts.max()) if counts.size else 1)

    def x_of(value: float) -> float:
        return left + (value - low) / (high - low) * plot_w

    parts = [
        f'<svg class="null-histogram" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">',
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{left + plot_w}" y2="{top_pad + plot_h}" stroke="#888"/>',
        f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{top_pad + plot_h}" stroke="#888"/>',
    ]
    for count, start, end in zip(counts.tolist(), edges[:-1], edges[1:], strict=True):
        bar_h = count / peak * plot_h
        parts.append(
            f'<rect x="{x_of(start) + 0.5:.2f}" y="{top_pad + plot_h - bar_h:.2f}" '
            f'width="{max(0.0, x_of(end) - x_of(start) - 1):.2f}" height="{bar_h:.2f}" fill="#9ca3af">'
            f"<title>{html.escape(f'{count} null model(s) with {label} in [{start:.3g}, {end:.3g})')}</title></rect>"
        )
    sx = x_of(suspect)
    parts += [
        (
            f'<line x1="{sx:.2f}" y1="{top_pad}" x2="{sx:.2f}" y2="{top_pad + plot_h}" stroke="#dc2626" stroke-width="2">'
            f"<title>{html.escape(f'suspect: {label} = {suspect:.4g}')}</title></line>"
        ),
        f'<text x="{left - 4}" y="{top_pad + 8}" font-size="10" text-anchor="end">{peak}</text>',
        f'<text x="{left - 4}" y="{top_pad + plot_h}" font-size="10" text-anchor="end">0</text>',
        f'<text x="{left}" y="{height - 4}" font-size="10">0</text>',
        f'<text x="{left + plot_w}" y="{height - 4}" font-size="10" text-anchor="end">{high:.3g}</text>',
        (
            f'<text x="{left + plot_w / 2:.0f}" y="{height - 4}" font-size="10" text-anchor="middle">'
            f"{html.escape(label)} (grey: null models, red: suspect)</text>"
        ),
        "</svg>",
    ]
    return "\n".join(parts)
