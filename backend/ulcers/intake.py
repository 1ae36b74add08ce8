"""Turn the bytes a phone sent into a clean, upright image we are willing to keep.

The file type is decided by content (an allow-list handed to Pillow), never by the file
name; the byte limit is checked before Pillow sees anything; decompression bombs and
truncated files are refused. What is stored is re-encoded from pixels only, so no EXIF,
GPS, XMP, ICC device profile or comment survives.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

import pillow_heif
from PIL import Image, ImageCms, UnidentifiedImageError

from backend.errors import DomainError, ValidationFailed

MAX_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 50_000_000
MIN_SIDE = 64  # smaller than this holds neither a marker nor an ulcer
# Pillow's format names. HEIF (iPhone photos) comes from the pillow-heif plugin.
ALLOWED_FORMATS = ("JPEG", "PNG", "HEIF")
JPEG_QUALITY = 95

pillow_heif.register_heif_opener()


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"


def _image_error(message: str) -> ValidationFailed:
    return ValidationFailed(message, errors={"files": {"image": [message]}})


@dataclass(frozen=True)
class CleanImage:
    data: bytes  # the stored file: re-encoded, no metadata
    sha256: str  # of `data`; the storage key
    media_type: str
    extension: str
    width: int
    height: int
    received_format: str


def require_size(data: bytes) -> None:
    """The byte limit, checked before anything hashes or decodes the bytes."""
    if len(data) > MAX_BYTES:
        raise PayloadTooLarge(f"The photo is {len(data)} bytes; the limit is {MAX_BYTES} bytes (20 MB).")


def clean_image(data: bytes) -> CleanImage:
    """Decode, check, orient upright and re-encode an uploaded photo; refuse what is unsafe."""
    require_size(data)
    if not data:
        raise _image_error("The image file is empty.")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise PayloadTooLarge(f"The image has too many pixels; the limit is {MAX_PIXELS:,}.") from exc
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise _image_error("Not a JPEG, PNG or HEIC image (the file type is decided by its content).") from exc
        received_format = image.format or "unknown"
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise PayloadTooLarge(f"The image is {width}×{height} pixels; the limit is {MAX_PIXELS:,} pixels.")
        if min(width, height) < MIN_SIDE:
            raise _image_error(f"The image is {width}×{height} pixels; it needs at least {MIN_SIDE} on each side.")
        try:
            image.load()
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise _image_error("The image file is truncated or damaged; take or send the photo again.") from exc
        warnings.simplefilter("ignore", UserWarning)  # Pillow's "Corrupt EXIF data": handled below
        upright = _srgb(_upright(image))
    return _encode(upright, received_format)


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation. Only the one tag is read (ImageOps.exif_transpose
    rewrites the whole EXIF block and fails on the damaged ones phones produce); the
    rest of the EXIF is dropped anyway. An unreadable orientation counts as upright."""
    try:
        orientation = int(image.getexif().get(0x0112, 1))
    except Exception:  # any damage in the EXIF block
        orientation = 1
    method = _TRANSPOSE.get(orientation)
    return image.transpose(method) if method is not None else image


def _srgb(image: Image.Image) -> Image.Image:
    """RGB pixels in sRGB: convert from an embedded profile (from the image's own mode, so a
    CMYK or grey profile applies too), then drop it; flatten transparency onto white."""
    icc = image.info.get("icc_profile")
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if icc and image.mode in ("RGB", "RGBA", "CMYK", "L"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            mode = "RGBA" if image.mode == "RGBA" else "RGB"
            converted = ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode=mode)
            if converted is not None:
                image = converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # an unusable profile: keep the pixels as they are
    if has_alpha:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    else:
        image = image.convert("RGB")
    image.info.clear()
    return image


def _encode(image: Image.Image, received_format: str) -> CleanImage:
    out = io.BytesIO()
    if received_format == "PNG":
        # Lossless in, lossless out; no text chunks, no profile.
        image.save(out, "PNG", optimize=False)
        media_type, extension = "image/png", "png"
    else:
        image.save(out, "JPEG", quality=JPEG_QUALITY, subsampling=0)
        media_type, extension = "image/jpeg", "jpg"
    data = out.getvalue()
    return CleanImage(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        media_type=media_type,
        extension=extension,
        width=image.width,
        height=image.height,
        received_format=received_format,
    )
