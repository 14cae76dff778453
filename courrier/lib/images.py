"""Uploaded photos, cleaned of everything but their pixels.

A photo of a demonstration can carry the GPS position where it was taken,
the camera's serial number and the photographer's name (EXIF, XMP, IPTC,
comments). Re-saving with Pillow drops some of that, not all (a TIFF kept its
XMP author), so the picture is rebuilt from its pixels alone and re-encoded.
Any file that cannot be handled that way is refused rather than stored as is.
"""

import io
import secrets
import warnings

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageCms, ImageOps

ACCEPTED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
# Far more than any photo needs, far less than a decompression bomb makes.
MAX_PIXELS = 40_000_000
# The page shows photos at most 1200 px wide; twice that serves sharp screens.
MAX_SIDE = 2400

NOT_CLEANABLE = _("This file cannot be cleaned of its hidden data: upload a photo in JPEG, PNG or WebP format.")
DAMAGED = _("This image is damaged or incomplete: export it again and upload it.")
TOO_LARGE = _("This image is too large (at most %(pixels)s million pixels).")


def clean_uploaded_image(file) -> ContentFile:
    """A new file holding only the pixels of `file`, upright, as JPEG, PNG or WebP; ValidationError otherwise."""
    file.seek(0)
    with warnings.catch_warnings():
        # Pillow only warns below twice its own limit: refuse instead.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(file, formats=list(ACCEPTED_FORMATS))
        except Image.UnidentifiedImageError:
            raise ValidationError(NOT_CLEANABLE, code="format") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ValidationError(TOO_LARGE, code="size", params={"pixels": MAX_PIXELS // 1_000_000}) from None
        except (OSError, SyntaxError, ValueError):
            raise ValidationError(DAMAGED, code="damaged") from None
        source_format = image.format
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise ValidationError(TOO_LARGE, code="size", params={"pixels": MAX_PIXELS // 1_000_000})
        try:
            image.load()
            upright = ImageOps.exif_transpose(image)
            pixels = only_pixels(upright)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ValidationError(TOO_LARGE, code="size", params={"pixels": MAX_PIXELS // 1_000_000}) from None
        except (OSError, SyntaxError, ValueError, EOFError):
            raise ValidationError(DAMAGED, code="damaged") from None

    pixels.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if source_format == "PNG":
        pixels.save(out, format="PNG", optimize=True)
    elif source_format == "WEBP":
        pixels.save(out, format="WEBP", quality=85, method=4)
    else:
        pixels.save(out, format="JPEG", quality=85, optimize=True, progressive=True)
    # A random name: the original one can carry a name too ("IMG_Ivanov_Almaty.jpg").
    return ContentFile(out.getvalue(), name=f"{secrets.token_hex(8)}.{ACCEPTED_FORMATS[source_format]}")


def only_pixels(image: Image.Image) -> Image.Image:
    """A new image made of the pixels alone, in sRGB: no EXIF, XMP, ICC profile, comment or text chunk."""
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    keeps_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    target_mode = "RGBA" if keeps_alpha else "RGB"
    icc = image.info.get("icc_profile")
    if icc and image.mode in ("RGB", "RGBA", "CMYK"):
        # Apply the embedded colour profile before dropping it, so the colours stay as the photographer saw them.
        try:
            converted = ImageCms.profileToProfile(
                image.convert("RGBA" if image.mode == "RGBA" else image.mode),
                ImageCms.ImageCmsProfile(io.BytesIO(icc)),
                ImageCms.createProfile("sRGB"),
                outputMode=target_mode,
            )
            if converted is not None:
                image = converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # an unreadable profile: plain conversion below
    if image.mode != target_mode:
        image = image.convert(target_mode)
    return Image.frombytes(target_mode, image.size, image.tobytes())
