"""The user's pictures, read and prepared as MNIST was made.

:func:`to_mnist` turns any picture of one digit into what the models were trained on, the way
MNIST was made: grey-scale; the ink found as what differs from the border's colour, so dark
ink on paper and light ink on a dark background give the same image (MNIST is white on
black); the digit's bounding box cropped and scaled so its longer side is 20 pixels (aspect
kept, antialiased); pasted into 28×28 with its centre of mass at (14, 14), where MNIST puts it.
Thin pen strokes on a large canvas are thickened first (a grey dilation), so they are not
scaled down to a faint hairline: MNIST's strokes are about 2.6 pixels wide in the 20-pixel box.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mnistflow.errors import PredictError

SIZE = 28  # MNIST's image side
BOX = 20  # the longer side of the digit's bounding box in MNIST
CENTRE = 14.0  # where MNIST puts the centre of mass (row, column; measured: 13.99, 14.00)
MIN_CONTRAST = 0.2  # ink must differ from the border by this much (of white) to be a digit
NOISE = 0.15  # ink weaker than this (of the strongest) is paper texture or compression noise
INK = 0.5  # pixels at least this strong are the digit's strokes (bounding box, stroke width)
SPECK = 0.01  # stroke pieces smaller than this share of the largest are specks, ignored
MIN_STROKE = 2.0  # strokes thinner than this in the 20-pixel box are thickened ...
TARGET_STROKE = 2.6  # ... to this width (MNIST's median, measured as 2·area/perimeter)
MAX_SIDE = 1024  # larger pictures are first reduced to this (antialiased): the digit is 20 px


def load_grey(path: str | Path) -> np.ndarray:
    """The picture at ``path`` as grey levels in [0, 1] (float32, rows × columns), upright
    (EXIF orientation applied), transparency flattened onto a background the ink stands out
    from, reduced to at most ``MAX_SIDE`` pixels a side."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise PredictError(f"{path}: no such file; check the name (`ls {path.parent}`)")
    if path.is_dir():
        raise PredictError(
            f"{path}: is a folder, not an image; name the image files in it (`mnistflow predict {path}/*.png`)"
        )
    try:
        with Image.open(path) as image:
            image.load()
            image = ImageOps.exif_transpose(image)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        reason = (
            "not an image Pillow can read (PNG, JPEG, GIF, BMP, TIFF, WebP, …)"
            if isinstance(exc, UnidentifiedImageError)
            else f"a damaged image ({' '.join(str(exc).split())[:80]})"
        )
        raise PredictError(f"{path}: {reason}; give a picture of one digit") from None
    if max(image.size) > MAX_SIDE:
        scale = MAX_SIDE / max(image.size)
        image = image.resize(
            (max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.BOX
        )
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N"):  # 16-bit grey
        return (np.asarray(image, dtype=np.float32) / 65535.0).clip(0, 1)
    if image.mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float32)
        return ((values - values.min()) / max(float(np.ptp(values)), 1e-12)).astype(np.float32)
    if "A" in image.getbands() or "transparency" in image.info:
        return _flatten_alpha(np.asarray(image.convert("LA"), dtype=np.float32) / 255.0)
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def _flatten_alpha(la: np.ndarray) -> np.ndarray:
    """Grey + alpha -> grey: a digit drawn on a transparent canvas lies over a background of
    the opposite shade to its own (dark ink on white, light ink on black)."""
    grey, alpha = la[..., 0], la[..., 1]
    opaque = alpha > 0.5
    ink_is_light = bool(opaque.any()) and float(grey[opaque].mean()) > 0.5
    background = 0.0 if ink_is_light else 1.0
    return (grey * alpha + background * (1.0 - alpha)).astype(np.float32)


def border(grey: np.ndarray) -> np.ndarray:
    """The pixels of the picture's frame: its outer 5% (at least one pixel) on every side."""
    h, w = grey.shape
    t = max(1, min(h, w) // 20)
    return np.concatenate([grey[:t].ravel(), grey[-t:].ravel(), grey[t:-t, :t].ravel(), grey[t:-t, -t:].ravel()])


def ink(grey: np.ndarray) -> tuple[np.ndarray, float]:
    """How strongly each pixel differs from the background (the median of the frame), in the
    direction of the digit: (ink in [0, 1], 0 on the background and 1 at the strongest
    stroke; the contrast, the strongest stroke's difference from the background).

    The digit is dark on light when the darkest pixel is further from the background than the
    lightest one, so a picture and its negative give the same ink."""
    background = float(np.median(border(grey)))
    dark = background - float(grey.min()) > float(grey.max()) - background
    strength = (background - grey) if dark else (grey - background)
    contrast = float(strength.max())
    if contrast < MIN_CONTRAST:
        return np.zeros_like(grey), contrast
    out = (strength / contrast).clip(0, 1)
    out[out < NOISE] = 0.0
    return out.astype(np.float32), contrast


def stroke_width(mask: np.ndarray) -> float:
    """The strokes' width in pixels, 2·area/perimeter (a stroke of length L and width w has
    area L·w and about 2·L boundary pixels); at least 2 for any stroke this way."""
    from scipy import ndimage

    edge = mask & ~ndimage.binary_erosion(mask)
    return 2.0 * float(mask.sum()) / max(int(edge.sum()), 1)


def _disk(radius: int) -> np.ndarray:
    r = np.arange(-radius, radius + 1)
    return (r[:, None] ** 2 + r[None, :] ** 2) <= radius * radius


def digit_box(strokes: np.ndarray) -> tuple[slice, slice] | None:
    """The bounding box of the digit's strokes, specks left out; None when there are none."""
    from scipy import ndimage

    labels, n = ndimage.label(strokes, structure=np.ones((3, 3)))
    if n == 0:
        return None
    sizes = np.bincount(labels.ravel())[1:]
    keep = np.flatnonzero(sizes >= SPECK * sizes.max()) + 1
    rows, cols = np.nonzero(np.isin(labels, keep))
    return slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1)


def to_mnist(grey: np.ndarray, name: str = "the image") -> np.ndarray:
    """A picture of one digit (grey levels in [0, 1]) as a 28×28 MNIST image: float32 in
    [0, 1], white digit on black, longer side 20 pixels, centre of mass at (14, 14).
    :class:`PredictError` when it holds no digit (a blank or nearly uniform picture)."""
    from PIL import Image
    from scipy import ndimage

    strength, contrast = ink(np.asarray(grey, dtype=np.float32))
    box = digit_box(strength >= INK)
    if box is None:
        raise PredictError(
            f"{name}: no digit found (the strongest mark differs from the background by {contrast:.0%} of white, "
            f"{MIN_CONTRAST:.0%} is needed); give a picture of one digit, dark on light or light on dark"
        )
    digit = strength[box]
    # Thin strokes would shrink to a faint hairline: thicken them in the picture's own pixels.
    scale = BOX / max(digit.shape)
    width = stroke_width(digit >= INK)
    if width * scale < MIN_STROKE:
        radius = max(1, round((TARGET_STROKE / scale - width) / 2))
        padded = np.pad(digit, radius)
        # A round pen; a square one past a few pixels (separable, so fast; the difference is
        # well under a pixel once scaled to the 20-pixel box).
        digit = (
            ndimage.grey_dilation(padded, footprint=_disk(radius))
            if radius <= 3
            else ndimage.maximum_filter(padded, size=2 * radius + 1)
        )
    h, w = digit.shape
    scale = BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(
        Image.fromarray(np.ascontiguousarray(digit, dtype=np.float32)).resize(size, Image.Resampling.LANCZOS),
        dtype=np.float32,
    ).clip(0, 1)
    cy, cx = ndimage.center_of_mass(small)
    top, left = round(CENTRE - cy), round(CENTRE - cx)
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    # Paste at (top, left), clipped to the canvas (a very lopsided digit may reach past it).
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + small.shape[0], SIZE), min(left + small.shape[1], SIZE)
    out[r0:r1, c0:c1] = small[r0 - top : r1 - top, c0 - left : c1 - left]
    return out


def mnist_like(path: str | Path) -> np.ndarray:
    """The image file at ``path`` as a 28×28 MNIST image (see :func:`to_mnist`)."""
    return to_mnist(load_grey(path), str(path))
