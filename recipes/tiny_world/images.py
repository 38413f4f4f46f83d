"""PIL drawings whose content determines the answer: labelled shapes, bar charts, clocks, dot counts."""

from __future__ import annotations

import math
import random

from PIL import Image, ImageDraw, ImageFont

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
#: Colour of the dots in counting images (tests count its connected components).
DOT_COLOUR = (200, 30, 30)
BAR_COLOURS = ((66, 133, 244), (219, 68, 55), (244, 180, 0), (15, 157, 88), (171, 71, 188))


def _font() -> ImageFont.ImageFont:
    return ImageFont.load_default()


def _canvas(rng: random.Random, lo: int = 112, hi: int = 224) -> Image.Image:
    return Image.new("RGB", (rng.randint(lo, hi), rng.randint(lo, hi)), WHITE)


def rectangle(width: int, height: int, rng: random.Random) -> Image.Image:
    """A rectangle with its two side lengths written next to the sides."""
    img = _canvas(rng)
    w, h = img.size
    d = ImageDraw.Draw(img)
    box = (w * 0.2, h * 0.25, w * 0.8, h * 0.75)
    d.rectangle(box, outline=BLACK, width=2)
    d.text(((box[0] + box[2]) / 2 - 4, box[3] + 3), str(width), fill=BLACK, font=_font())
    d.text((box[2] + 4, (box[1] + box[3]) / 2 - 5), str(height), fill=BLACK, font=_font())
    return img


def right_triangle(a: int, b: int, rng: random.Random) -> Image.Image:
    """A right triangle with legs labelled ``a`` (bottom) and ``b`` (left) and a right-angle mark."""
    img = _canvas(rng)
    w, h = img.size
    d = ImageDraw.Draw(img)
    p0, p1, p2 = (w * 0.2, h * 0.8), (w * 0.8, h * 0.8), (w * 0.2, h * 0.2)
    d.polygon([p0, p1, p2], outline=BLACK, width=2)
    d.rectangle((p0[0], p0[1] - 8, p0[0] + 8, p0[1]), outline=BLACK)
    d.text(((p0[0] + p1[0]) / 2, p0[1] + 3), str(a), fill=BLACK, font=_font())
    d.text((p0[0] - 14, (p0[1] + p2[1]) / 2), str(b), fill=BLACK, font=_font())
    return img


def circle(radius: int, rng: random.Random) -> Image.Image:
    """A circle with a drawn radius labelled ``r = radius``."""
    img = _canvas(rng)
    w, h = img.size
    d = ImageDraw.Draw(img)
    r = min(w, h) * 0.35
    cx, cy = w / 2, h / 2
    d.ellipse((cx - r, cy - r, cx + r, cy + r), outline=BLACK, width=2)
    d.line((cx, cy, cx + r, cy), fill=BLACK, width=1)
    d.text((cx + 3, cy - 12), f"r={radius}", fill=BLACK, font=_font())
    return img


def bar_chart(labels: list[str], values: list[int], rng: random.Random) -> Image.Image:
    """Vertical bars with their category label below and their value printed above."""
    img = _canvas(rng, 140, 224)
    w, h = img.size
    d = ImageDraw.Draw(img)
    top, bottom = h * 0.15, h * 0.85
    unit = (bottom - top) / max(values)
    slot = w / (len(values) + 1)
    for i, (lab, val) in enumerate(zip(labels, values, strict=True)):
        x0 = slot * (i + 0.6)
        x1 = x0 + slot * 0.7
        d.rectangle((x0, bottom - val * unit, x1, bottom), fill=BAR_COLOURS[i % len(BAR_COLOURS)])
        d.text((x0, bottom - val * unit - 11), str(val), fill=BLACK, font=_font())
        d.text((x0, bottom + 2), lab, fill=BLACK, font=_font())
    d.line((slot * 0.4, bottom, w - slot * 0.3, bottom), fill=BLACK, width=1)
    return img


def clock(hour: int, minute: int, rng: random.Random) -> Image.Image:
    """An analogue clock face showing ``hour:minute`` (12 tick marks, short hour hand, long minute hand)."""
    img = _canvas(rng, 112, 196)
    w, h = img.size
    d = ImageDraw.Draw(img)
    r = min(w, h) * 0.42
    cx, cy = w / 2, h / 2
    d.ellipse((cx - r, cy - r, cx + r, cy + r), outline=BLACK, width=2)
    for k in range(12):
        a = math.radians(k * 30)
        d.line(
            (
                cx + 0.85 * r * math.sin(a),
                cy - 0.85 * r * math.cos(a),
                cx + r * math.sin(a),
                cy - r * math.cos(a),
            ),
            fill=BLACK,
            width=2,
        )
    a_min = math.radians(minute * 6)
    a_hour = math.radians((hour % 12) * 30 + minute * 0.5)
    d.line((cx, cy, cx + 0.8 * r * math.sin(a_min), cy - 0.8 * r * math.cos(a_min)), fill=BLACK, width=2)
    d.line((cx, cy, cx + 0.5 * r * math.sin(a_hour), cy - 0.5 * r * math.cos(a_hour)), fill=BLACK, width=4)
    return img


def dots(n: int, rng: random.Random, size: tuple[int, int] | None = None) -> Image.Image:
    """``n`` separate, non-touching filled dots of ``DOT_COLOUR`` on white."""
    w, h = size or (rng.randint(84, 224), rng.randint(84, 224))
    img = Image.new("RGB", (w, h), WHITE)
    d = ImageDraw.Draw(img)
    radius = max(3, min(w, h) // 28)
    placed: list[tuple[float, float]] = []
    tries = 0
    while len(placed) < n:
        tries += 1
        if tries > 20000:
            raise RuntimeError(f"cannot place {n} dots on a {w}x{h} image")
        x = rng.uniform(radius + 2, w - radius - 2)
        y = rng.uniform(radius + 2, h - radius - 2)
        if all((x - px) ** 2 + (y - py) ** 2 > (3 * radius) ** 2 for px, py in placed):
            placed.append((x, y))
            d.ellipse((x - radius, y - radius, x + radius, y + radius), fill=DOT_COLOUR)
    return img


#: Colour name -> fill of the shapes in ``shapes_scene`` (the answers of the ``shape_color`` family).
SHAPE_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (235, 200, 30),
}


def shapes_scene(big: str, small: list[str], rng: random.Random, size: int = 112) -> Image.Image:
    """One large filled shape of colour ``big`` (most of the canvas, so nearly every patch the vision tower
    sees carries its colour) and small shapes of the ``small`` colours (each under a sixteenth) on top,
    on white; rectangles or ellipses at random places."""
    img = Image.new("RGB", (size, size), WHITE)
    d = ImageDraw.Draw(img)

    def blob(colour: str, lo: float, hi: float) -> None:
        w, h = size * rng.uniform(lo, hi), size * rng.uniform(lo, hi)
        x, y = rng.uniform(0, size - w), rng.uniform(0, size - h)
        shape = d.rectangle if rng.random() < 0.5 else d.ellipse
        shape((x, y, x + w, y + h), fill=SHAPE_COLOURS[colour])

    blob(big, 0.85, 1.0)
    for colour in small:
        blob(colour, 0.15, 0.25)
    return img


def to_mode(img: Image.Image, mode: str) -> Image.Image:
    """Convert to one of RGB, RGBA (opaque alpha), L, P (adaptive palette) or CMYK."""
    if mode == "RGB":
        return img
    if mode == "P":
        return img.convert("P", palette=Image.Palette.ADAPTIVE, colors=32)
    return img.convert(mode)


def upscale(img: Image.Image, target_pixels: int) -> Image.Image:
    """Scale ``img`` up (nearest neighbour, so shapes and dot counts survive) to about ``target_pixels``."""
    f = math.sqrt(target_pixels / (img.width * img.height))
    return img.resize((round(img.width * f), round(img.height * f)), Image.Resampling.NEAREST)
