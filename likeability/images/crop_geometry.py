"""The ImageNet evaluation crop every backbone expects, as geometry: which source pixels become the 224 x 224 input;
and fine-tuning's centre square."""

from __future__ import annotations

# torchvision's ImageNet evaluation recipe, the same for every backbone: shorter side to 256 (bilinear,
# antialiased), then the centred 224 crop.
RESIZE = 256
CROP = 224


def resized_shape(width: int, height: int) -> tuple[int, int]:
    """(width, height) after torchvision's Resize(256): shorter side 256, longer side truncated as torchvision does."""
    if width <= height:
        return RESIZE, int(RESIZE * height / width)
    return int(RESIZE * width / height), RESIZE


def centre_crop_offset(resized_width: int, resized_height: int) -> tuple[int, int]:
    """(left, top) of torchvision's CenterCrop(224) in the resized image."""
    return round((resized_width - CROP) / 2), round((resized_height - CROP) / 2)


def crop_box(width: int, height: int) -> tuple[float, float, float, float]:
    """The source region that becomes torchvision's Resize(256) + CenterCrop(224), in source pixels.

    Resizing only this region to 224 x 224 gives the same pixels (Pillow places the output samples at the
    same source positions with the same filter width) without computing the 256-side image first.
    """
    resized_width, resized_height = resized_shape(width, height)
    left, top = centre_crop_offset(resized_width, resized_height)
    scale_x, scale_y = width / resized_width, height / resized_height
    return left * scale_x, top * scale_y, (left + CROP) * scale_x, (top + CROP) * scale_y


def centre_square_box(width: int, height: int) -> tuple[int, int, int, int]:
    """A photo's centre square (left, top, right, bottom) in whole pixels: always inside the photo."""
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side
