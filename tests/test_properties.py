"""Property-based tests: hostile text in every public form field and URL never breaks a page or a header.

Hypothesis throws CR, LF, NUL and the other C0/C1 controls, the Unicode line separators, bidi
controls, RFC 2047 encoded words that decode to a new header (CVE-2024-6923), "\\nBcc:" injections,
strings far beyond every maximum length, and ordinary Cyrillic and Kazakh at:
- the campaign page's signing form and the embedded form (every field, the embed's form token);
- the confirmation and unsubscribe links' tokens, the own-mailbox links, query strings, language
  prefixes, the Accept-Language header and the language cookie, the language switcher.

No answer is a server error, and no response header holds a line break. Every signature accepted
goes through the worker's own code (delivery.enqueue queues its confirmation and letters,
delivery.compose writes them), and the bytes are parsed with the email package: exactly the
expected headers, once each, no line break in any value (decoded too), exactly the expected
recipients in To, Cc, Reply-To and the envelope, and the same once a relay parses and writes the
message again with Python's email package.

Quick by default (COURRIER_PROPERTIES=quick, derandomised, no example database);
COURRIER_PROPERTIES=long runs thousands of random examples per test.
"""

import base64
import email
import email.policy
import os
import re
import unicodedata
from email.header import decode_header, make_header
from email.utils import getaddresses
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from courrier.accounts.models import Organisation
from courrier.campaigns.models import Campaign, DirectoryEntry, ModelLetter, Target
from courrier.campaigns.open_campaigns import forget
from courrier.delivery import enqueue
from courrier.delivery.compose import compose
from courrier.delivery.dkim import dkim_sign
from courrier.delivery.models import OutboxMessage
from courrier.delivery.verp import reply_address
from courrier.lib.form_tokens import issue_form_token
from courrier.lib.headers import header_text
from courrier.news.models import NewsUpdate
from courrier.news.sending import queue_news, send_updates
from courrier.news.tokens import unsubscribe_token
from courrier.signatures.models import Signature
from courrier.signatures.tokens import confirmation_token

pytestmark = [pytest.mark.properties, pytest.mark.django_db]

settings.register_profile(
    "quick",
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("long", settings.get_profile("quick"), max_examples=3000, derandomize=False)
settings.load_profile(os.environ.get("COURRIER_PROPERTIES", "quick"))

# The world of these tests: example.org addresses only, and a sender that is not a placeholder.
TO_TARGET = "ambassade@example.org"
CC_TARGET = "allies@example.org"
ENTRY_FR = "ambassade-france@example.org"
ENTRY_BE = "ambassade-belgique@example.org"
EVIL = "evil@example.net"

# Hostile pieces: each is a known way to break out of a header line, or to make one read differently.
CONTROLS = "\r\n\x00\x01\x07\x08\t\x0b\x0c\x1b\x1f\x7f\x80\x85\x8d\x9b\x9f\u2028\u2029"
BIDI = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"


def b64_word(text: str) -> str:
    return f"=?utf-8?b?{base64.b64encode(text.encode()).decode()}?="


INJECTIONS = [
    f"=?utf-8?q?x=0D=0ABcc:_{EVIL}?=",
    "=?UTF-8?Q?=0A?=",
    "=?utf-8?Q?=0D=0A=0D=0A<html>?=",
    b64_word(f"x\r\nBcc: {EVIL}"),
    b64_word(f"\nTo: {EVIL}\n"),
    f"=?iso-8859-1?q?=0ACc:{EVIL}?=",
    f"\nBcc: {EVIL}",
    f"\r\nTo: {EVIL}",
    f"\rCc: {EVIL}",
    f"\r\n\r\nBcc: {EVIL}",
    f"\u2028Bcc: {EVIL}",
    f"\x85Bcc: {EVIL}",
    f"\x00Bcc: {EVIL}",
    f"%0d%0aBcc:%20{EVIL}",
    f"<{EVIL}>, {EVIL}",
    f'"x" <{EVIL}>',
    "\u202eevil\u202c",
    "\u2066gro.elpmaxe\u2069",
]
ORDINARY = ["Ұлжан", "Қасымова", "Әсел Нұрғалиқызы", "Алматы", "Өскемен", "Анна Смирнова", "O'Brien", "Tom & Jerry"]

pieces = st.one_of(
    st.sampled_from(INJECTIONS),
    st.sampled_from(ORDINARY),
    st.text(alphabet=st.sampled_from(CONTROLS + BIDI + "ab =?:"), max_size=12),
    st.text(max_size=12),
)
# Anything at all: a few pieces, or one repeated past every field's maximum (100 to 100,000 characters).
nasty = st.one_of(
    st.lists(pieces, max_size=5).map("".join),
    st.builds(
        lambda piece, size: (piece * size)[:size],
        st.sampled_from([*INJECTIONS, *ORDINARY]),
        st.sampled_from([101, 201, 255, 601, 10_001, 100_000]),
    ),
)

# What a form may accept in a one-line field: no control or line separator, but bidi controls,
# encoded words, quotes, markup and any script, within the field's length.
line_characters = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))
line_pieces = st.one_of(
    st.sampled_from([p for p in INJECTIONS if not any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in p)]),
    st.sampled_from(ORDINARY),
    st.text(alphabet=st.sampled_from(BIDI + "ab =?:<>\"',;@"), max_size=12),
    st.text(alphabet=line_characters, max_size=12),
)


def one_line(max_length: int) -> st.SearchStrategy[str]:
    """An accepted one-line value: starts with a letter (so it is never blank), within max_length."""
    return st.lists(line_pieces, max_size=4).map(lambda parts: ("Ә" + "".join(parts))[:max_length])


# Free text keeps its line breaks; the other controls are dropped, so all of them may be sent.
paragraph = st.lists(st.one_of(pieces, st.sampled_from(INJECTIONS)), max_size=6).map("".join)
plain_addresses = st.from_regex(r"[a-z0-9]{1,10}(\.[a-z0-9+_-]{1,8})?@(example\.org|Example\.ORG)", fullmatch=True)


@pytest.fixture
def world(db, settings):
    """Two live campaigns: one sends To its embassy with supporters' own versions allowed, one by country."""
    settings.SENDER_EMAIL = settings.LETTERS_SENDER_EMAIL = settings.BOUNCE_EMAIL = "lettres@example.org"
    settings.SITE_NAME = "Courrier"
    organisation = Organisation.objects.create(name="Solidarité", contact_email="contact@example.org")
    plain = Campaign.objects.create(
        organisation=organisation,
        slug="plain",
        title="Libérez-les",
        summary="Écrivez.",
        status=Campaign.Status.LIVE,
        allow_letter_editing=True,
        embed_origins="https://www.example.org",
    )
    by_country = Campaign.objects.create(
        organisation=organisation,
        slug="by-country",
        title="Par pays",
        summary="Écrivez.",
        status=Campaign.Status.LIVE,
        use_directory=True,
        embed_origins="https://www.example.org",
    )
    for campaign in (plain, by_country):
        Target.objects.create(campaign=campaign, role=Target.Role.TO, name="Ambassade", email=TO_TARGET)
        Target.objects.create(campaign=campaign, role=Target.Role.CC, name="Alliés", email=CC_TARGET)
        # Placeholders in the subject, so that what supporters type reaches the Subject line too.
        for language in ("fr", "kk"):
            ModelLetter.objects.create(
                campaign=campaign,
                language=language,
                subject="{full_name} ({city}): libérez-les",
                body="Madame,\n\n{personal_sentence}\n\n{place_and_date}\n\n{signature}",
            )
    DirectoryEntry.objects.create(campaign=by_country, country="FR", country_name="France", name="A", email=ENTRY_FR)
    DirectoryEntry.objects.create(campaign=by_country, country="BE", country_name="Belgique", name="B", email=ENTRY_BE)
    return {"plain": plain, "by-country": by_country}


def start_example() -> None:
    """Each example starts afresh: no signature, no message, no rate-limit count, no campaign in memory."""
    OutboxMessage.objects.all().delete()
    Signature.objects.all().delete()
    cache.clear()
    forget()


# Checking what comes out


def assert_clean_response(response) -> None:
    assert response.status_code < 500, response.status_code
    for name, value in response.items():
        assert not any(ch in value for ch in "\r\n\x00"), (name, value)
    location = response.get("Location", "")
    if location and not location.startswith(WEBMAILS):
        assert url_has_allowed_host_and_scheme(location, {"testserver"}), f"a redirect off the site: {location}"


WEBMAILS = ("mailto:", "https://mail.google.com/", "https://outlook.live.com/", "https://compose.mail.yahoo.com/")


def as_on_the_wire(value: str) -> str:
    """A request header as a WSGI server hands it over: its UTF-8 bytes read as Latin-1."""
    return value.encode("utf-8", "replace").decode("latin-1")


def unsafe_characters(text: str) -> set[str]:
    return {ch for ch in text if unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in BIDI}


def header_names(data: bytes) -> list[str]:
    """The header names of a message on the wire, with their repeats; every line checked on the way."""
    head, separator, _body = data.partition(b"\r\n\r\n")
    assert separator, "no blank line between the headers and the body"
    names = []
    for line in head.split(b"\r\n"):
        assert not any(byte in line for byte in b"\r\n\x00"), line
        if line[:1] in (b" ", b"\t"):
            continue  # a folded line of the header above
        name, colon, _value = line.partition(b":")
        assert colon and re.fullmatch(rb"[!-9;-~]+", name), f"not a header line: {line!r}"
        names.append(name.decode("ascii"))
    return names


def mail_addresses(message, name: str) -> list[str]:
    return [address.lower() for _display, address in getaddresses(message.get_all(name, []))]


def decoded(raw: str) -> str:
    return str(make_header(decode_header(raw)))


def subject_of(message) -> str:
    """The Subject as a mail client shows it."""
    raw = next(value for name, value in message.raw_items() if name == "Subject")
    return decoded(re.sub(r"\r\n[ \t]", " ", raw))


def check_message(row: OutboxMessage, to: list[str], cc: list[str], reply_to: str = "") -> email.message.Message:
    """The row's message as the worker writes it: headers exactly as expected, recipients exactly these."""
    assert row.recipients() == [*to, *cc], "the envelope goes to the expected addresses only"
    data = dkim_sign(compose(row))
    expected = {"From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"}
    if not row.attachment:
        expected.add("Content-Transfer-Encoding")
    if cc:
        expected.add("Cc")
    if reply_to:
        expected.add("Reply-To")
    if row.auto_submitted:
        expected.add("Auto-Submitted")
    if row.list_unsubscribe:
        expected.add("List-Unsubscribe")
        if row.list_unsubscribe.startswith("https://"):
            expected.add("List-Unsubscribe-Post")  # one-click (RFC 8058) only where the address is https
    names = header_names(data)
    assert sorted(names) == sorted(expected), names

    message = email.message_from_bytes(data, policy=email.policy.default)
    for name, raw in message.raw_items():
        unfolded = re.sub(r"\r\n[ \t]", " ", raw)
        # As written, as decoded by a mail client, and as parsed by Python's email package.
        for value in (unfolded, decoded(unfolded), str(message[name])):
            assert not unsafe_characters(value), (name, value)
    assert mail_addresses(message, "To") == to
    assert mail_addresses(message, "Cc") == cc
    assert mail_addresses(message, "Reply-To") == ([reply_to] if reply_to else [])
    assert mail_addresses(message, "From") == [row.from_email]
    assert message.get_all("Bcc") is None
    # A relay that parses the message and writes it again (CVE-2024-6923) writes the same headers.
    again = message.as_bytes(policy=email.policy.SMTP)
    assert sorted(header_names(again)) == sorted(expected)
    relayed = email.message_from_bytes(again, policy=email.policy.default)
    for name, expected_addresses in [("From", [row.from_email]), ("To", to), ("Cc", cc)]:
        assert mail_addresses(relayed, name) == expected_addresses, (name, again.partition(b"\r\n\r\n")[0])
    return message


def deliver_all(signature: Signature) -> list[OutboxMessage]:
    """What the worker does with a new signature: its confirmation, then, confirmed, its letters."""
    enqueue.queue_confirmations()
    Signature.objects.filter(pk=signature.pk).update(confirmed_at=timezone.now())
    enqueue.queue_letters()
    if Signature.objects.filter(pk=signature.pk, moderation=Signature.Moderation.HELD).exists():
        # A link or a long sentence holds the letter for review: approved, it goes like any other.
        Signature.objects.filter(pk=signature.pk).update(moderation=Signature.Moderation.APPROVED)
        enqueue.queue_letters()
    return list(OutboxMessage.objects.filter(signature=signature).order_by("pk"))


def check_signature_mail(signature: Signature) -> None:
    rows = deliver_all(signature)
    kinds = sorted(row.kind for row in rows)
    assert kinds == sorted([OutboxMessage.Kind.CONFIRMATION, OutboxMessage.Kind.LETTER, OutboxMessage.Kind.COPY])
    to = {"FR": [ENTRY_FR], "BE": [ENTRY_BE]}.get(signature.directory_country, [TO_TARGET])
    subjects = {}
    for row in rows:
        if row.kind == OutboxMessage.Kind.LETTER:
            message = check_message(row, to=to, cc=[CC_TARGET], reply_to=reply_address(signature.pk))
        else:
            message = check_message(row, to=[signature.email], cc=[])
        subjects[row.kind] = subject_of(message)
    # The subject says what the supporter wrote, flattened to one line, not escaped for HTML.
    assert subjects[OutboxMessage.Kind.LETTER].startswith(header_text(signature.full_name))
    assert subjects[OutboxMessage.Kind.LETTER][:100] in subjects[OutboxMessage.Kind.COPY]


# Forms


def form_fields(first_name, last_name, email, city, country, organisation, role, sentence, body, **more):
    fields = {
        "first_name": first_name,
        "last_name": last_name,
        "email": email,
        "city": city,
        "country": country,
        "organisation": organisation,
        "organisation_role": role,
        "personal_sentence": sentence,
        "letter_body": body,
        **more,
    }
    return {name: value for name, value in fields.items() if value is not None}


maybe = lambda strategy: st.one_of(st.none(), strategy)  # noqa: E731  (a field left out of the POST)

any_form = st.builds(
    form_fields,
    *[maybe(nasty)] * 9,
    letter_language=maybe(st.one_of(st.sampled_from(["fr", "kk", "en"]), nasty)),
    consent_send=maybe(st.one_of(st.just("on"), nasty)),
    consent_list_organisation=maybe(nasty),
    consent_news=maybe(nasty),
    source=maybe(st.one_of(st.sampled_from(["qr", "share", "embed"]), nasty)),
    directory_country=maybe(nasty),
    website=maybe(nasty),
    proof=maybe(nasty),
)


@st.composite
def accepted_form(draw, campaign: str, where: str):
    """Hostile values a form should accept: every field at once, for the mail to carry them all.

    Only the campaign page offers editing the whole letter, and only the campaign that allows it.
    """
    sentence = draw(paragraph)[:600]
    edited = draw(
        st.one_of(st.just(""), paragraph.map(lambda text: text[:9000] + "\n{personal_sentence}\n{signature}"))
    )
    return form_fields(
        draw(one_line(100)),
        draw(one_line(100)),
        draw(plain_addresses),
        draw(one_line(100)),
        draw(st.sampled_from(["FR", "BE"])) if campaign == "by-country" else draw(one_line(100)),
        draw(one_line(200)),
        draw(one_line(100)),
        sentence,
        edited if (campaign, where) == ("plain", "page") else None,
        letter_language=draw(st.sampled_from(["fr", "kk"])),
        consent_send="on",
        consent_list_organisation=draw(st.sampled_from(["on", ""])),
        consent_news=draw(st.sampled_from(["on", ""])),
        source=draw(st.sampled_from(["qr", "share", "page", ""])),
    )


def post_form(world, campaign: str, where: str, fields: dict, token: str | None = None):
    """The form as the page (or the frame) serves it, with its signed token, sent with these values."""
    fields = {"form_token": issue_form_token(world[campaign].pk) if token is None else token, **fields}
    if where == "embed":
        return Client().post(f"/fr/embed/{campaign}/sign/", fields)
    return Client().post(f"/fr/c/{campaign}/sign/", fields)


@given(
    campaign=st.sampled_from(["plain", "by-country"]),
    where=st.sampled_from(["page", "embed"]),
    fields=any_form,
    token=maybe(nasty),
)
def test_any_value_in_any_signing_field_is_answered_without_a_server_error(world, campaign, where, fields, token):
    start_example()
    response = post_form(world, campaign, where, fields, token)
    assert_clean_response(response)
    for signature in Signature.objects.filter(is_duplicate=False):
        check_signature_mail(signature)


@given(data=st.data(), campaign=st.sampled_from(["plain", "by-country"]), where=st.sampled_from(["page", "embed"]))
def test_hostile_but_acceptable_values_are_signed_and_every_mail_keeps_its_headers_and_recipients(
    world, data, campaign, where
):
    start_example()
    fields = data.draw(accepted_form(campaign, where))
    response = post_form(world, campaign, where, fields)
    assert_clean_response(response)
    assert response.status_code == 302, response.content.decode()[:3000]
    signature = Signature.objects.get()
    assert signature.email == fields["email"].lower()
    check_signature_mail(signature)


@given(title=nasty, subject=nasty, news_subject=nasty, news_body=nasty, target_name=nasty, site_name=nasty)
def test_organisers_texts_never_add_a_header_or_a_recipient(
    world, settings, title, subject, news_subject, news_body, target_name, site_name
):
    """Titles, subjects and names come from the back office's forms, which cap them; the mail must hold anyway."""
    # What those forms let through: at most 200 characters, and no NUL (Django's fields refuse it).
    title, subject, news_subject, target_name, site_name = (
        text.replace("\x00", "")[:200] for text in (title, subject, news_subject, target_name, site_name)
    )
    news_body = news_body.replace("\x00", "")
    start_example()
    settings.SITE_NAME = site_name
    campaign = world["plain"]
    Campaign.objects.filter(pk=campaign.pk).update(title=title)
    ModelLetter.objects.filter(campaign=campaign).update(subject=subject)
    Target.objects.filter(campaign=campaign).update(name=target_name)
    Target.objects.filter(campaign=campaign, role=Target.Role.CC).update(delivery_mode=Target.Mode.DIGEST)
    signature = Signature.objects.create(
        campaign=campaign,
        first_name="Ұлжан",
        last_name="Қасымова",
        email="ulzhan@example.org",
        language="fr",
        letter_language="fr",
        consent_send=True,
        consent_news=True,
    )
    rows = deliver_all(signature)
    assert sorted(row.kind for row in rows) == sorted(["confirmation", "letter", "copy"])
    subjects = {}
    for row in rows:
        if row.kind == OutboxMessage.Kind.LETTER:
            # The Cc takes digests; answers come back through the campaign.
            message = check_message(row, to=[TO_TARGET], cc=[], reply_to=reply_address(signature.pk))
        else:
            message = check_message(row, to=[signature.email], cc=[])
        subjects[row.kind] = subject_of(message)
    assert header_text(title) in subjects[OutboxMessage.Kind.CONFIRMATION], "the title as written"
    assert subjects[OutboxMessage.Kind.LETTER][:100] in subjects[OutboxMessage.Kind.COPY]

    from courrier.delivery.digests import queue_due_digests

    Target.objects.filter(campaign=campaign).update(last_digest_at=None)
    queue_due_digests(timezone.now() + timezone.timedelta(days=2))
    digest = OutboxMessage.objects.get(kind=OutboxMessage.Kind.DIGEST)
    check_message(digest, to=[CC_TARGET], cc=[])

    update = NewsUpdate.objects.create(campaign=campaign, language="fr", subject=news_subject, body=news_body)
    send_updates([update], user=None)
    queue_news()  # as the worker does
    news = OutboxMessage.objects.get(kind=OutboxMessage.Kind.NEWS)
    check_message(news, to=[signature.email], cc=[], reply_to="contact@example.org")


# Links and URLs


@given(token=nasty, method=st.sampled_from(["get", "post"]), language=st.sampled_from(["fr", "kk"]))
def test_confirmation_and_unsubscribe_links_with_any_token_answer_without_a_server_error(
    world, token, method, language
):
    start_example()
    signature = Signature.objects.create(
        campaign=world["plain"],
        first_name="Ә",
        last_name="Қ",
        email="a@example.org",
        language="fr",
        letter_language="fr",
    )
    client = Client()
    for path in (
        f"/{language}/confirm/{quote(token, safe='')}/",
        f"/{language}/confirm/{confirmation_token(signature.pk)}{quote(token, safe='')}/",
        f"/{language}/news/unsubscribe/{quote(token, safe='')}/",
        f"/{language}/news/unsubscribe/{unsubscribe_token(signature.pk)}{quote(token, safe='')}/",
    ):
        response = getattr(client, method)(path, {"List-Unsubscribe": token} if method == "post" else None)
        assert_clean_response(response)


@given(value=nasty, channel=st.one_of(st.sampled_from(["mailto", "gmail", "outlook", "yahoo", "copy"]), nasty))
def test_own_mailbox_links_with_any_letter_or_channel_answer_without_a_server_error(world, value, channel):
    start_example()
    client = Client()
    for path in ("/fr/c/plain/own-mailbox/", f"/fr/c/plain/own-mailbox/go/{quote(channel, safe='')}/"):
        assert_clean_response(client.get(path, {"letter": value}))


@given(value=nasty, language=nasty)
def test_query_strings_language_prefixes_headers_and_cookies_answer_without_a_server_error(world, value, language):
    start_example()
    client = Client(HTTP_ACCEPT_LANGUAGE=as_on_the_wire(language[:1000]))
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = as_on_the_wire(language[:1000])
    for path in ("/fr/c/plain/", "/fr/c/by-country/", "/kk/", "/fr/embed/plain/", "/fr/c/plain/check-your-inbox/"):
        assert_clean_response(client.get(path, {"src": value, "letter": value, "country": value}))
    for path in ("/fr/c/plain/qr.svg", "/fr/c/plain/og.png"):
        assert_clean_response(client.get(path, {"src": value}))
    assert_clean_response(client.get(f"/{quote(language, safe='')}/c/plain/"))
    assert_clean_response(client.get(f"/fr/c/{quote(value, safe='')}/"))
    assert_clean_response(client.post("/i18n/setlang/", {"language": language, "next": value}))
    assert_clean_response(client.get("/fr/c/plain/sign/", {"src": value}))


def optional_path(name: str, *args) -> str | None:
    """A page another part of issue 6 adds; None until it exists."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


@given(
    fields=st.dictionaries(st.sampled_from(["email", "token", "proof", "website", "language", "next"]), nasty),
    token=nasty,
)
def test_the_data_request_and_proof_of_work_endpoints_answer_any_value_without_a_server_error(world, fields, token):
    start_example()
    paths = [
        optional_path("my_data_request"),
        optional_path("my_data_erased"),
        optional_path("my_data", "SLOT"),
        optional_path("proof_challenge"),
    ]
    paths = [path.replace("SLOT", quote(token, safe="") or "x") for path in paths if path]
    if not paths:
        pytest.skip("neither the data request pages nor the proof-of-work challenge exist yet")
    client = Client()
    for path in paths:
        assert_clean_response(client.get(path, fields))
        assert_clean_response(client.post(path, fields))
