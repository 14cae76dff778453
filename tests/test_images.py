"""Uploaded photos keep their pixels and lose everything else: GPS position, camera serial, author."""

import io

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.forms.models import model_to_dict
from django.test import RequestFactory
from django.utils import translation
from PIL import Image, ImageCms, PngImagePlugin

from courrier.campaigns.models import Campaign
from courrier.lib.images import clean_uploaded_image

AUTHOR = "Aigerim Photographer"
SERIAL = "CAMERA-SERIAL-0042"
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>'
    + AUTHOR.encode()
    + b"</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>"
)
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
REVEALING = [AUTHOR.encode(), SERIAL.encode(), b"adobe:ns:meta", b"Almaty rooftop"]


def photo_exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    exif[0x013B] = AUTHOR  # Artist
    exif[0x010F] = "Camera maker"  # Make
    exif.get_ifd(0x8769)[0xA431] = SERIAL  # Exif IFD: BodySerialNumber
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (43.0, 14.0, 17.0)  # Almaty
    gps[3], gps[4] = "E", (76.0, 55.0, 42.0)
    return exif


def two_colour_photo(size=(40, 20)) -> Image.Image:
    """Red on the left half, blue on the right: after an EXIF rotation, where each colour went shows it was applied."""
    image = Image.new("RGB", size, (200, 30, 30))
    image.paste((30, 30, 200), (size[0] // 2, 0, size[0], size[1]))
    return image


def upload(data: bytes, name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


def jpeg_with_everything(orientation: int = 1) -> bytes:
    out = io.BytesIO()
    two_colour_photo().save(
        out, "JPEG", exif=photo_exif(orientation), xmp=XMP, comment=b"Almaty rooftop", icc_profile=SRGB
    )
    data = out.getvalue()
    for secret in (AUTHOR.encode(), SERIAL.encode(), b"adobe:ns:meta"):
        assert secret in data, "the test photo really carries what must be removed"
    return data


def opened(cleaned) -> Image.Image:
    cleaned.seek(0)
    image = Image.open(io.BytesIO(cleaned.read()))
    image.load()
    return image


def assert_nothing_but_pixels(cleaned) -> None:
    data = cleaned.read()
    cleaned.seek(0)
    for secret in REVEALING:
        assert secret not in data
    image = opened(cleaned)
    assert len(image.getexif()) == 0
    for key in ("exif", "xmp", "XML:com.adobe.xmp", "comment", "icc_profile", "Author", "Comment"):
        assert key not in image.info


def test_a_jpeg_loses_gps_serial_author_xmp_and_comment_and_is_turned_upright():
    cleaned = clean_uploaded_image(upload(jpeg_with_everything(orientation=6), "IMG_Aigerim_Almaty.jpg"))

    assert_nothing_but_pixels(cleaned)
    image = opened(cleaned)
    assert image.format == "JPEG"
    # Orientation 6 means "rotate 90° clockwise to view": 40×20 becomes 20×40, red on top.
    assert image.size == (20, 40)
    red, _, blue = image.getpixel((10, 5))
    assert red > 150 and blue < 100
    red, _, blue = image.getpixel((10, 35))
    assert blue > 150 and red < 100
    # The original name can carry a name too: the stored one is random.
    assert "Aigerim" not in cleaned.name and cleaned.name.endswith(".jpg")


def test_a_png_loses_its_text_chunks_exif_and_xmp_and_keeps_transparency():
    image = Image.new("RGBA", (30, 30), (0, 128, 0, 0))
    image.paste((0, 128, 0, 255), (0, 0, 15, 30))
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", AUTHOR)
    info.add_text("Comment", "Almaty rooftop")
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info, exif=photo_exif())

    cleaned = clean_uploaded_image(upload(out.getvalue(), "banner.png"))

    assert_nothing_but_pixels(cleaned)
    result = opened(cleaned)
    assert result.format == "PNG" and result.mode == "RGBA"
    assert result.getpixel((5, 5))[3] == 255 and result.getpixel((25, 5))[3] == 0


def test_a_webp_loses_its_exif_and_xmp():
    out = io.BytesIO()
    two_colour_photo().save(out, "WEBP", exif=photo_exif(), xmp=XMP)
    assert AUTHOR.encode() in out.getvalue()

    cleaned = clean_uploaded_image(upload(out.getvalue(), "photo.webp"))

    assert_nothing_but_pixels(cleaned)
    assert opened(cleaned).format == "WEBP"


def test_a_huge_photo_is_scaled_down_to_what_the_page_can_use():
    out = io.BytesIO()
    Image.new("RGB", (4800, 1200), (10, 10, 10)).save(out, "JPEG")

    assert opened(clean_uploaded_image(upload(out.getvalue(), "wide.jpg"))).size == (2400, 600)


def refusal(data: bytes, name: str) -> ValidationError:
    with translation.override("en"), pytest.raises(ValidationError) as caught:
        clean_uploaded_image(upload(data, name))
    return caught.value


def test_a_tiff_is_refused_since_it_cannot_be_cleaned():
    out = io.BytesIO()
    two_colour_photo().save(out, "TIFF", tiffinfo={700: XMP, 315: AUTHOR})

    error = refusal(out.getvalue(), "photo.tiff")

    assert error.code == "format"
    with translation.override("en"):
        assert "JPEG, PNG or WebP" in error.messages[0]


def test_text_named_like_a_jpeg_is_refused():
    error = refusal(b"This is not a photo, whatever its name says.\n" * 20, "photo.jpg")

    assert error.code == "format"


def test_a_truncated_jpeg_is_refused_as_damaged():
    data = jpeg_with_everything()

    error = refusal(data[: len(data) // 2], "cut.jpg")

    assert error.code == "damaged"


def test_a_decompression_bomb_is_refused_before_it_is_decoded():
    out = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(out, "PNG")  # 144 million pixels in a few kilobytes
    assert len(out.getvalue()) < 100_000

    error = refusal(out.getvalue(), "bomb.png")

    assert error.code == "size"
    assert "40" in error.messages[0]


# ---------- Through the back office ----------


def admin_form(campaign: Campaign, photo: SimpleUploadedFile):
    request = RequestFactory().post("/admin/")
    request.user = User(is_superuser=True, is_staff=True)
    form_class = admin.site._registry[Campaign].get_form(request, campaign)
    data = {key: value for key, value in model_to_dict(campaign).items() if value is not None and key != "photo"}
    return form_class(data, {"photo": photo}, instance=campaign)


@pytest.mark.django_db
def test_a_photo_uploaded_in_the_back_office_is_stored_cleaned(own_campaign, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"

    form = admin_form(own_campaign, upload(jpeg_with_everything(orientation=6), "IMG_Aigerim.jpg"))

    assert form.is_valid(), form.errors
    form.save()
    stored = Campaign.objects.get(pk=own_campaign.pk).photo
    assert stored.name.startswith("campaigns/") and "Aigerim" not in stored.name
    data = (settings.MEDIA_ROOT / stored.name).read_bytes()
    for secret in REVEALING:
        assert secret not in data
    assert Image.open(io.BytesIO(data)).size == (20, 40)


@pytest.mark.django_db
def test_a_tiff_uploaded_in_the_back_office_is_refused_with_a_message(own_campaign, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    out = io.BytesIO()
    two_colour_photo().save(out, "TIFF", tiffinfo={700: XMP})

    with translation.override("en"):
        form = admin_form(own_campaign, upload(out.getvalue(), "scan.tiff"))
        assert not form.is_valid()
        assert "JPEG, PNG or WebP" in " ".join(form.errors["photo"])
    assert not Campaign.objects.get(pk=own_campaign.pk).photo
    assert not (tmp_path / "media").exists()
