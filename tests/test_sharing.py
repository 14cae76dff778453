"""Sharing: the Open Graph card, the QR code, the meta tags, and the thank-you pages that offer them."""

import io
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import segno
from django.conf import settings
from PIL import Image, ImageChops

from courrier.campaigns.models import Campaign
from courrier.delivery.models import OutboxMessage
from courrier.signatures.models import Signature
from courrier.web.sharing import font
from tests.factories import OWN_PAGE, OWN_SLUG
from tests.helpers import confirmation_path, deliver_everything, sign

pytestmark = pytest.mark.django_db

LANGUAGES = ["fr", "en", "ru", "kk"]
KAZAKH_LETTERS = "әғқңөұүһіӘҒҚҢӨҰҮҺІ"


def campaign_path(language: str, rest: str = "") -> str:
    return f"/{language}/c/{OWN_SLUG}/{rest}"


def png(response) -> Image.Image:
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image


# ---------- The Open Graph card ----------


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_card_is_a_1200_by_630_png_with_writing_on_it_in_every_language(own_campaign, client, language):
    response = client.get(campaign_path(language, "og.png"))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    image = png(response)
    assert image.format == "PNG" and image.size == (1200, 630)
    # The title block holds dark text on the light background, not an empty card.
    title_box = image.convert("L").crop((80, 130, 1120, 430))
    dark = sum(title_box.histogram()[:100])
    assert dark > 5_000


def test_each_language_has_its_own_card_and_the_counter_changes_it(own_campaign, client):
    cards = {language: client.get(campaign_path(language, "og.png")).content for language in LANGUAGES}
    assert len(set(cards.values())) == 4

    Campaign.objects.filter(pk=own_campaign.pk).update(tally_letters=1234)
    counted = client.get(campaign_path("kk", "og.png")).content
    assert counted != cards["kk"]
    difference = ImageChops.difference(png_bytes(counted), png_bytes(cards["kk"])).getbbox()
    assert difference[1] >= 430, "only the counter at the bottom changed"


def png_bytes(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def test_the_card_font_draws_every_kazakh_letter_instead_of_a_missing_glyph_box():
    face = font(60)
    missing = bytes(face.getmask("\ue000"))  # a private-use code point: DejaVu draws its "missing" box
    for letter in KAZAKH_LETTERS:
        mask = face.getmask(letter)
        assert mask.getbbox() is not None, letter
        assert bytes(mask) != missing, f"{letter} is drawn as a missing glyph"


def test_the_card_is_rendered_once_and_revalidated_by_its_etag(own_campaign, client):
    first = client.get(campaign_path("ru", "og.png"))
    etag = first["ETag"]
    assert first["Cache-Control"].startswith("public, max-age=")

    again = client.get(campaign_path("ru", "og.png"), HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304

    Campaign.objects.filter(pk=own_campaign.pk).update(tally_letters=7)
    changed = client.get(campaign_path("ru", "og.png"), HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag


def test_a_very_long_title_is_wrapped_and_cut_to_fit_the_card(own_campaign, client):
    long_title = ("Қазақстандағы әлеуметтік қозғалысқа қарсы қуғын-сүргін " * 8)[:200]  # the field's maximum
    own_campaign.texts.filter(language="kk").update(title=long_title)

    image = png(client.get(campaign_path("kk", "og.png")))

    assert image.size == (1200, 630)
    # The title stays clear of the right margin and of the counter.
    pixels = image.convert("L")
    assert pixels.crop((1130, 0, 1200, 630)).getextrema()[0] > 200
    assert pixels.crop((80, 450, 1120, 470)).getextrema()[0] > 200


def test_a_draft_campaign_has_no_card_and_no_qr_code(own_campaign, client):
    Campaign.objects.filter(pk=own_campaign.pk).update(status=Campaign.Status.DRAFT)
    for rest in ("og.png", "qr.svg", "qr.png"):
        assert client.get(campaign_path("fr", rest)).status_code == 404


# ---------- Meta tags ----------


def meta(page: str, attribute: str, name: str) -> str:
    marker = f'<meta {attribute}="{name}" content="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


def test_the_campaign_page_describes_its_card_for_social_sites_in_its_language(own_campaign, client):
    page = client.get(campaign_path("kk")).content.decode()

    kazakh = own_campaign.texts.get(language="kk")
    assert meta(page, "property", "og:title") == kazakh.title
    assert meta(page, "property", "og:image") == settings.SITE_ROOT + campaign_path("kk", "og.png")
    assert meta(page, "property", "og:image:width") == "1200"
    assert meta(page, "property", "og:image:height") == "630"
    assert meta(page, "property", "og:locale") == "kk_KZ"
    assert meta(page, "property", "og:url") == settings.SITE_ROOT + campaign_path("kk")
    assert meta(page, "name", "twitter:card") == "summary_large_image"
    assert f'<link rel="canonical" href="{settings.SITE_ROOT}{campaign_path("kk")}">' in page
    assert meta(page, "property", "og:description").startswith(kazakh.summary[:40])


# ---------- The QR code ----------


def expected_qr(language: str) -> segno.QRCode:
    # Marked ?src=qr, so that signatures from leaflets are counted as coming from the QR code.
    return segno.make(settings.SITE_ROOT + campaign_path(language) + "?src=qr", error="m", micro=False)


def test_the_qr_code_svg_is_an_svg_image_of_the_campaign_address(own_campaign, client):
    response = client.get(campaign_path("ru", "qr.svg"))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    root = ET.fromstring(response.content)  # noqa: S314 (the site's own output, under test)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    modules = len(expected_qr("ru").matrix) + 8
    assert (root.get("width"), root.get("height")) == (str(modules * 8), str(modules * 8))
    reference = io.BytesIO()
    expected_qr("ru").save(reference, kind="svg", scale=8, border=4, dark="#000", light="#fff")
    assert response.content == reference.getvalue()


def test_the_qr_code_png_for_leaflets_holds_the_modules_of_the_campaign_address(own_campaign, client):
    response = client.get(campaign_path("en", "qr.png"))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == 'attachment; filename="free-them-en-qr.png"'
    image = png(response).convert("L")
    matrix = expected_qr("en").matrix
    scale, border = 16, 4
    assert image.size == ((len(matrix) + 2 * border) * scale,) * 2
    # Read each module back from the centre of its square, as a scanner would.
    read = [
        [
            image.getpixel(((border + x) * scale + scale // 2, (border + y) * scale + scale // 2)) < 128
            for x in range(len(row))
        ]
        for y, row in enumerate(matrix)
    ]
    assert read == [[bool(module) for module in row] for row in matrix]
    # The quiet zone around it is white.
    assert image.crop((0, 0, image.width, border * scale)).getextrema() == (255, 255)


# ---------- Thank-you pages ----------


def share_hosts(page: str) -> set[str]:
    return {urlsplit(href).netloc for href in links(page) if href.startswith("https://")}


def links(page: str) -> list[str]:
    start = page.index('<ul class="share-links">')
    block = page[start : page.index("</ul>", start)]
    return [part.split('"', 1)[0].replace("&amp;", "&") for part in block.split('href="')[1:]]


def test_after_signing_the_page_says_the_letter_waits_for_confirmation_and_offers_sharing(own_campaign, client):
    page = sign(client, slug=OWN_SLUG, letter_language="fr")
    page = client.get(page["Location"]).content.decode()

    assert 'data-state="unconfirmed"' in page
    assert 'aria-current="step"' in page
    assert page.count('aria-current="step"') == 1
    assert share_hosts(page) == {"t.me", "wa.me", "www.facebook.com", "x.com", "vk.com"}
    address = settings.SITE_ROOT + OWN_PAGE
    for href in links(page):
        if href.startswith("mailto:"):
            assert address in unquote(href)
        else:
            query = parse_qs(urlsplit(href).query)
            assert any(address in value for values in query.values() for value in values), href
    assert f'id="share-url" value="{address}" readonly' in page
    assert f'src="{campaign_path("fr", "qr.svg")}"' in page
    assert f'href="{campaign_path("fr", "qr.png")}" download' in page
    # The share sheet button needs the script: hidden until it finds navigator.share.
    assert 'data-share-url="' + address + '?src=share"' in page and "hidden>" in page
    assert "<script>" not in page and "onclick" not in page


def confirm_signature(client, sandbox) -> str:
    sign(client, slug=OWN_SLUG)
    deliver_everything()
    path = confirmation_path(sandbox)
    assert client.post(path).status_code == 302
    return path


def confirm_through_smtp(client, smtp_sink) -> str:
    sign(client, slug=OWN_SLUG)
    deliver_everything()
    path = confirmation_path(smtp_sink.messages()[0])
    assert client.post(path).status_code == 302
    return path


def state_of(page: str) -> str:
    marker = 'data-state="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


def test_the_confirmation_page_shows_the_button_until_confirmed_and_no_sharing_yet(
    own_campaign, client, sandbox_in_tmp
):
    sign(client, slug=OWN_SLUG)
    deliver_everything()

    page = client.get(confirmation_path(sandbox_in_tmp)).content.decode()

    assert 'method="post"' in page
    assert "share-links" not in page


def test_a_confirmed_letter_not_yet_sent_is_said_to_be_queued(own_campaign, client, sandbox_in_tmp):
    path = confirm_signature(client, sandbox_in_tmp)

    page = client.get(path).content.decode()

    assert state_of(page) == "queued"
    assert "share-links" in page


def test_a_letter_written_to_the_sandbox_is_never_called_delivered(own_campaign, client, sandbox_in_tmp):
    path = confirm_signature(client, sandbox_in_tmp)
    deliver_everything()

    page = client.get(path).content.decode()

    assert state_of(page) == "sandbox"
    assert "démonstration" in page


def test_a_letter_accepted_by_the_receiving_server_is_said_to_be_delivered(
    own_campaign, client, sandbox_in_tmp, smtp_settings, smtp_sink
):
    Campaign.objects.filter(pk=own_campaign.pk).update(real_delivery=True)
    path = confirm_through_smtp(client, smtp_sink)
    deliver_everything()

    page = client.get(path).content.decode()

    assert state_of(page) == "delivered"
    assert "livrée" in page or "delivered" in page


def test_a_refused_letter_is_said_to_be_refused(own_campaign, client, sandbox_in_tmp, smtp_settings, smtp_sink):
    Campaign.objects.filter(pk=own_campaign.pk).update(real_delivery=True)
    path = confirm_through_smtp(client, smtp_sink)
    smtp_sink.replies = ["550 5.1.1 No such user"] * 2
    deliver_everything()
    assert OutboxMessage.objects.get(kind=OutboxMessage.Kind.LETTER).status == OutboxMessage.Status.FAILED

    page = client.get(path).content.decode()

    assert state_of(page) == "failed"
    assert Signature.objects.get().is_confirmed
