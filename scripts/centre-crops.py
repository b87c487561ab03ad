"""The centre 768×512 crop of training photos, the sets the training measures use (never the
images results are reported on).

    python scripts/centre-crops.py SRC DST [four|all]   (needs Pillow)

four: photos 007, 019, 033 and 045 (the default); all: every PNG in SRC.
"""
import os
import sys

from PIL import Image

src, dst = sys.argv[1:3]
which = sys.argv[3] if len(sys.argv) > 3 else "four"
if which == "four":
    names = ["007", "019", "033", "045"]
elif which == "all":
    names = sorted(f[:-4] for f in os.listdir(src) if f.endswith(".png"))
else:
    sys.exit(f"the set is four or all, not {which}")
for name in names:
    im = Image.open(f"{src}/{name}.png").convert("RGB")
    x, y = (im.width - 768) // 2, (im.height - 512) // 2
    im.crop((x, y, x + 768, y + 512)).save(f"{dst}/{name}.png")
