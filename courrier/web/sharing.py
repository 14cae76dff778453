"""Sharing a campaign: plain share links, its Open Graph card, and a QR code of its address.

Everything is made and served by the site itself: no third-party script or
image is ever loaded by a page. The share links are plain <a href> a supporter
chooses to follow.
"""

import hashlib
import io
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote

import segno
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import formats
from django.utils.translation import get_language, gettext, ngettext
from django.views.decorators.http import require_safe
from PIL import Image, ImageDraw, ImageFont

from courrier.campaigns.models import Campaign
from courrier.lib.typefaces import DEJAVU_SANS

OG_WIDTH, OG_HEIGHT = 1200, 630
# DejaVu Sans covers Latin, Cyrillic and every Kazakh letter (ә ғ қ ң ө ұ ү һ і).
OG_LOCALES = {"fr": "fr_FR", "en": "en_GB", "ru": "ru_RU", "kk": "kk_KZ"}
# Social sites and chat apps fetch the card on every share: keep it a while.
IMAGE_MAX_AGE = 600

PAPER = "#fbfaf7"
TEXT = "#1c1c1c"
MUTED = "#4a4a4a"
ACCENT = "#9b1c2e"


@dataclass
class ShareLink:
    name: str
    href: str

    @property
    def opens_a_site(self) -> bool:
        return not self.href.startswith("mailto:")


@dataclass
class Share:
    """What a page needs to offer sharing a campaign, in the current language."""

    url: str  # the campaign's absolute address in this language
    shared_url: str  # the same, marked ?src=share so that signatures from shared links are counted as such
    title: str
    summary: str
    language: str
    og_image: str
    og_locale: str
    og_locale_alternates: list[str]
    qr_svg: str
    qr_png: str
    links: list[ShareLink]


def absolute(path: str) -> str:
    return settings.SITE_ROOT + path


def campaign_share(campaign: Campaign) -> Share:
    language = get_language()
    text = campaign.text_for(language)
    url = absolute(reverse("campaign", args=[campaign.slug]))
    shared_url = f"{url}?src=share"
    return Share(
        url=url,
        shared_url=shared_url,
        title=text.title,
        summary=text.summary,
        language=text.language,
        og_image=absolute(reverse("campaign_og", args=[campaign.slug])),
        og_locale=OG_LOCALES.get(language, language),
        og_locale_alternates=[locale for code, locale in OG_LOCALES.items() if code != language],
        qr_svg=reverse("campaign_qr_svg", args=[campaign.slug]),
        qr_png=reverse("campaign_qr_png", args=[campaign.slug]),
        links=share_links(shared_url, text.title),
    )


def share_links(url: str, title: str) -> list[ShareLink]:
    def q(value: str) -> str:
        return quote(value, safe="")

    return [
        ShareLink(gettext("E-mail"), f"mailto:?subject={q(title)}&body={q(title)}%0D%0A%0D%0A{q(url)}"),
        ShareLink("Telegram", f"https://t.me/share/url?url={q(url)}&text={q(title)}"),
        ShareLink("WhatsApp", f"https://wa.me/?text={q(title + ' ' + url)}"),
        ShareLink("Facebook", f"https://www.facebook.com/sharer/sharer.php?u={q(url)}"),
        ShareLink("X", f"https://x.com/intent/post?text={q(title)}&url={q(url)}"),
        ShareLink("VK", f"https://vk.com/share.php?url={q(url)}&title={q(title)}"),
    ]


# ---------- Open Graph card ----------


@lru_cache(maxsize=16)
def font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(DEJAVU_SANS), size)


def wrap(text: str, face: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Lines no wider than `width` pixels, broken between words (inside a word only if it alone is too wide)."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if face.getlength(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = word
        while face.getlength(line) > width:
            cut = next(i for i in range(len(line), 0, -1) if face.getlength(line[:i]) <= width or i == 1)
            lines.append(line[:cut])
            line = line[cut:]
    if line:
        lines.append(line)
    return lines


def fitted_title(title: str, width: int, max_height: int) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """The largest font size at which the title fits the box; at the smallest, the last line ends with …"""
    for size in range(76, 39, -4):
        face = font(size)
        lines = wrap(title, face, width)
        if len(lines) * size * 1.25 <= max_height:
            return face, lines
    max_lines = int(max_height // (size * 1.25))
    lines = lines[:max_lines]
    while face.getlength(lines[-1] + "…") > width and " " in lines[-1]:
        lines[-1] = lines[-1].rsplit(" ", 1)[0]
    lines[-1] += "…"
    return face, lines


def render_card(title: str, site_name: str, count: str, count_label: str) -> bytes:
    image = Image.new("RGB", (OG_WIDTH, OG_HEIGHT), PAPER)
    draw = ImageDraw.Draw(image)
    margin = 80
    draw.rectangle((0, 0, 24, OG_HEIGHT), fill=ACCENT)
    draw.text((margin, 56), site_name, font=font(36), fill=MUTED)

    face, lines = fitted_title(title, OG_WIDTH - 2 * margin, 300)
    y = 130
    for line in lines:
        # A thin stroke in the text colour stands in for a bold face.
        draw.text((margin, y), line, font=face, fill=TEXT, stroke_width=1, stroke_fill=TEXT)
        y += int(face.size * 1.25)

    number_face = font(88)
    baseline_y = OG_HEIGHT - 70
    draw.text(
        (margin, baseline_y), count, font=number_face, fill=ACCENT, anchor="ls", stroke_width=2, stroke_fill=ACCENT
    )
    label_x = margin + number_face.getlength(count) + 24
    label_face = font(40)
    for label_line in wrap(count_label, label_face, OG_WIDTH - margin - int(label_x))[:1]:
        draw.text((label_x, baseline_y), label_line, font=label_face, fill=TEXT, anchor="ls")

    out = io.BytesIO()
    # Default compression: `optimize` would cost 7 times the time (180 ms) to save 5 % of the bytes.
    image.save(out, format="PNG")
    return out.getvalue()


@require_safe
def og_image(request: HttpRequest, slug: str) -> HttpResponse:
    """The campaign's 1200×630 card in the page's language, rendered once per title and count."""
    campaign = get_object_or_404(Campaign.objects.public().prefetch_related("texts"), slug=slug)
    title = campaign.text_for(get_language()).title
    count = formats.number_format(campaign.tally_letters, force_grouping=True)
    label = ngettext("confirmed letter", "confirmed letters", campaign.tally_letters)
    inputs = [str(campaign.pk), get_language(), title, settings.SITE_NAME, count, label]
    digest = hashlib.sha256("\x00".join(inputs).encode()).hexdigest()[:32]
    etag = f'"{digest}"'
    if request.headers.get("If-None-Match") == etag:
        return HttpResponseNotModified(headers={"ETag": etag})
    key = f"og-card:{digest}"
    png = cache.get(key)
    if png is None:
        png = render_card(title, settings.SITE_NAME, count, label)
        cache.set(key, png, timeout=24 * 3600)
    response = HttpResponse(png, content_type="image/png")
    response["ETag"] = etag
    response["Cache-Control"] = f"public, max-age={IMAGE_MAX_AGE}"
    return response


# ---------- QR code ----------


def campaign_qr(slug: str) -> segno.QRCode:
    """The campaign's address, marked ?src=qr so that signatures from leaflets and posters are counted as such."""
    get_object_or_404(Campaign.objects.public(), slug=slug)
    return segno.make(absolute(reverse("campaign", args=[slug])) + "?src=qr", error="m", micro=False)


@require_safe
def qr_svg(request: HttpRequest, slug: str) -> HttpResponse:
    out = io.BytesIO()
    campaign_qr(slug).save(out, kind="svg", scale=8, border=4, dark="#000", light="#fff")
    response = HttpResponse(out.getvalue(), content_type="image/svg+xml")
    response["Cache-Control"] = f"public, max-age={IMAGE_MAX_AGE}"
    return response


@require_safe
def qr_png(request: HttpRequest, slug: str) -> HttpResponse:
    """A large PNG (about 600 px) for leaflets, downloaded rather than shown."""
    out = io.BytesIO()
    campaign_qr(slug).save(out, kind="png", scale=16, border=4, dark="#000", light="#fff")
    response = HttpResponse(out.getvalue(), content_type="image/png")
    response["Content-Disposition"] = f'attachment; filename="{slug}-{get_language()}-qr.png"'
    response["Cache-Control"] = f"public, max-age={IMAGE_MAX_AGE}"
    return response
