#!/usr/bin/env python3
"""Synthetic screenshots: windows with title bars, side lists, paragraphs, code, buttons, bar
charts, tables and gradients, with anti-aliased text; the content that photos and CIFAR-10
never show (flat areas, thin strokes, hard edges) and that people compress every day.

    python3 scripts/screen-content.py OUT_DIR [--seed S] [--count N] [--size 640x400]

Needs Pillow with FreeType. Uses the DejaVu fonts where they are installed (Debian's
fonts-dejavu-core) and Pillow's own font otherwise; the same seed and fonts give the same
images. docs/rd/screen holds the images aec is measured on (seed 1), so that they need not be
made again; training sets use other seeds.
"""
import argparse
import os
import random

from PIL import Image, ImageDraw, ImageFont

FONT_DIR = "/usr/share/fonts/truetype/dejavu"
FACES = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansCondensed.ttf"]
MONO = "DejaVuSansMono.ttf"
WORDS = (
    "the of and to in is that for it as with was on be by this are from or have an they which "
    "one you were all her she there would their we him been has when who will more no if out "
    "so said what up its about into than them can only other new some could time these two may "
    "then do first any my now such like our over man me even most made after also did many "
    "before must through back years where much your way well down should because each just "
    "those people how too little state good very make world still own see men work long get "
    "here between both life being under never day same another know while last might us great "
    "old year off come since against go came right used take three file edit view help open "
    "save settings profile search results download share export import window account"
).split()
CODE = (
    "fn let mut match if else for while return struct impl pub use self Some None Ok Err "
    "usize u8 f32 Vec String println! assert_eq! (x) [i] {} => -> :: & * + - == != < > 0 1 42"
).split()


def font(name, size):
    path = os.path.join(FONT_DIR, name)
    if os.path.exists(path):
        return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def colour(rng, lo=0, hi=255):
    return tuple(rng.randint(lo, hi) for _ in range(3))


def sentence(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize()


def paragraph(draw, rng, box, ink, size):
    x0, y0, x1, y1 = box
    f = font(rng.choice(FACES[::2]), size)
    y = y0
    while y + size < y1:
        line = sentence(rng, rng.randint(3, 12))
        while line and draw.textlength(line, font=f) > x1 - x0:
            line = line.rsplit(" ", 1)[0] if " " in line else ""
        draw.text((x0, y), line, fill=ink, font=f)
        y += int(size * rng.uniform(1.3, 1.7))


def code_block(draw, rng, box, dark):
    x0, y0, x1, y1 = box
    draw.rectangle(box, fill=(40, 42, 54) if dark else (246, 248, 250))
    size = rng.randint(11, 15)
    f = font(MONO, size)
    palette = [(255, 121, 198), (139, 233, 253), (80, 250, 123), (241, 250, 140), (248, 248, 242)]
    if not dark:
        palette = [(215, 58, 73), (0, 92, 197), (34, 134, 58), (111, 66, 193), (36, 41, 46)]
    y = y0 + 6
    while y + size < y1 - 4:
        x = x0 + 8 + 4 * size * rng.randint(0, 3) // 2
        for _ in range(rng.randint(1, 7)):
            word = rng.choice(CODE)
            w = draw.textlength(word + " ", font=f)
            if x + w > x1 - 8:
                break
            draw.text((x, y), word, fill=rng.choice(palette), font=f)
            x += w
        y += int(size * 1.45)


def button(draw, rng, xy, accent):
    f = font(FACES[1], rng.randint(11, 15))
    label = rng.choice(WORDS).capitalize()
    w = draw.textlength(label, font=f) + 24
    x, y = xy
    draw.rounded_rectangle((x, y, x + w, y + 28), radius=rng.randint(0, 8), fill=accent)
    ink = (255, 255, 255) if sum(accent) < 400 else (20, 20, 20)
    draw.text((x + 12, y + 6), label, fill=ink, font=f)
    return x + w


def bar_chart(draw, rng, box, ink):
    x0, y0, x1, y1 = box
    draw.line((x0, y1, x1, y1), fill=ink, width=1)
    draw.line((x0, y0, x0, y1), fill=ink, width=1)
    n = rng.randint(3, 9)
    step = (x1 - x0) / n
    fills = [colour(rng, 30, 230) for _ in range(rng.randint(1, 3))]
    f = font(FACES[0], 10)
    for i in range(n):
        h = rng.uniform(0.1, 0.95) * (y1 - y0)
        bx = x0 + i * step + step * 0.2
        draw.rectangle((bx, y1 - h, bx + step * 0.6, y1 - 1), fill=fills[i % len(fills)])
        draw.text((bx, y1 + 2), str(rng.randint(1, 99)), fill=ink, font=f)


def table(draw, rng, box, ink, line):
    x0, y0, x1, y1 = box
    rows, cols = rng.randint(3, 8), rng.randint(2, 5)
    f = font(FACES[0], 12)
    rh, cw = (y1 - y0) / rows, (x1 - x0) / cols
    for r in range(rows + 1):
        draw.line((x0, y0 + r * rh, x1, y0 + r * rh), fill=line)
    for c in range(cols + 1):
        draw.line((x0 + c * cw, y0, x0 + c * cw, y1), fill=line)
    for r in range(rows):
        for c in range(cols):
            text = rng.choice(WORDS) if rng.random() < 0.6 else f"{rng.uniform(0, 999):.1f}"
            draw.text((x0 + c * cw + 4, y0 + r * rh + (rh - 12) / 2), text, fill=ink, font=f)


def gradient(img, box, a, b):
    x0, y0, x1, y1 = box
    draw = ImageDraw.Draw(img)
    for x in range(x0, x1):
        t = (x - x0) / max(1, x1 - x0 - 1)
        draw.line((x, y0, x, y1), fill=tuple(round(a[i] + (b[i] - a[i]) * t) for i in range(3)))


def screen(rng, width, height):
    dark = rng.random() < 0.35
    bg = colour(rng, 24, 44) if dark else colour(rng, 238, 255)
    ink = colour(rng, 200, 240) if dark else colour(rng, 10, 60)
    accent = colour(rng, 0, 230)
    line = colour(rng, 60, 90) if dark else colour(rng, 200, 225)
    img = Image.new("RGB", (width, height), bg)
    draw = ImageDraw.Draw(img)
    bar = rng.randint(24, 36)
    draw.rectangle((0, 0, width, bar), fill=colour(rng, 40, 80) if dark else colour(rng, 210, 235))
    for i in range(3):
        draw.ellipse((10 + 20 * i, bar // 2 - 6, 22 + 20 * i, bar // 2 + 6), fill=colour(rng))
    draw.text((80, bar // 2 - 7), sentence(rng, 3), fill=ink, font=font(FACES[1], 13))
    side = rng.randint(0, width // 4)
    if side > 60:
        draw.rectangle((0, bar, side, height), fill=colour(rng, 30, 60) if dark else colour(rng, 225, 245))
        f = font(FACES[0], rng.randint(11, 14))
        for i, y in enumerate(range(bar + 12, height - 20, rng.randint(22, 30))):
            if i == 2:
                draw.rectangle((0, y - 4, side, y + 18), fill=accent)
            draw.text((12, y), rng.choice(WORDS).capitalize(), fill=ink, font=f)
    x0, y = side + 16, bar + 12
    while y < height - 40:
        kind = rng.choice(["text", "text", "code", "buttons", "chart", "table", "gradient"])
        h = min(height - 12 - y, rng.randint(40, 150))
        box = (x0, y, width - 16, y + h)
        if kind == "text":
            paragraph(draw, rng, box, ink, rng.randint(10, 22))
        elif kind == "code":
            code_block(draw, rng, box, dark)
        elif kind == "buttons":
            x = x0
            while x < width - 140:
                x = button(draw, rng, (x, y), accent if rng.random() < 0.5 else line) + 10
            h = 34
        elif kind == "chart":
            bar_chart(draw, rng, (x0 + 10, y, min(width - 16, x0 + 360), y + h - 14), ink)
        elif kind == "table":
            table(draw, rng, box, ink, line)
        else:
            gradient(img, (x0, y, width - 16, y + min(h, 60)), colour(rng), colour(rng))
            draw.text((x0 + 14, y + 10), sentence(rng, 4), fill=(255, 255, 255), font=font(FACES[1], 20))
            h = min(h, 60)
        y += h + rng.randint(8, 20)
    return img


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--count", type=int, default=8)
    p.add_argument("--size", default="640x400")
    a = p.parse_args()
    width, height = (int(v) for v in a.size.split("x"))
    os.makedirs(a.out, exist_ok=True)
    for i in range(a.count):
        rng = random.Random(a.seed * 1_000_003 + i)
        screen(rng, width, height).save(os.path.join(a.out, f"screen-{a.seed}-{i:03}.png"))


if __name__ == "__main__":
    main()
