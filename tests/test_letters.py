"""Filling in a model letter, and the text helpers that keep headers and pages safe."""

import base64
import datetime
import sys
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from courrier.campaigns.letters import Signer, render_letter, sample_letter
from courrier.campaigns.models import ModelLetter
from courrier.delivery.compose import encoded_words
from courrier.lib.headers import header_text, is_plain_address
from courrier.lib.markdown import render_markdown

BODY = "Madame,\n\n{personal_sentence}\n\n{signatory} exige.\n\n{place_and_date}\n\n{signature}\n"


def letter(language: str = "fr", body: str = BODY, subject: str = "Sujet") -> ModelLetter:
    return ModelLetter(language=language, subject=subject, body=body)


def test_a_letter_in_ones_own_name_is_signed_with_the_name_city_and_date():
    signer = Signer("Ұлжан", "Қасымова", city="Lyon", signed_on=datetime.date(2026, 11, 24))
    _subject, body = render_letter(letter(), signer)
    assert body == "Madame,\n\nҰлжан Қасымова exige.\n\nLyon, le 24 novembre 2026\n\nҰлжан Қасымова\n"


def test_a_letter_for_an_organisation_names_it_then_the_signer_and_role():
    signer = Signer(
        "Jean",
        "Dupont",
        organisation="CGT",
        organisation_role="secrétaire",
        personal_sentence="Libérez-les.",
        signed_on=datetime.date(2026, 1, 2),
    )
    _subject, body = render_letter(letter(), signer)
    assert body == "Madame,\n\nLibérez-les.\n\nCGT exige.\n\nLe 2 janvier 2026\n\nPour CGT\nJean Dupont, secrétaire\n"


def test_the_date_and_signature_follow_the_letters_language_not_the_pages():
    signer = Signer("Иван", "Петров", organisation="Профсоюз", city="Алматы", signed_on=datetime.date(2026, 11, 24))
    _subject, body = render_letter(letter("ru"), signer)
    assert "Алматы, 24 ноября 2026" in body
    _subject, body = render_letter(letter("en"), signer)
    assert "For Профсоюз\nИван Петров" in body


def test_braces_and_unknown_placeholders_are_left_as_written():
    signer = Signer("A", "B", personal_sentence="{signature} {{x}} %(name)s")
    _subject, body = render_letter(letter(body="{unknown} {personal_sentence}"), signer)
    assert body == "{unknown} {signature} {{x}} %(name)s\n"


def test_the_campaign_page_shows_the_blanks_by_name():
    text = sample_letter(letter())
    assert "[votre phrase personnelle, si vous en ajoutez une]" in text
    assert "{" not in text


def test_the_subject_cannot_carry_a_line_break():
    signer = Signer("A", "B")
    subject, _body = render_letter(letter(subject="Objet\r\nBcc: x@example.org {full_name}"), signer)
    assert "\n" not in subject and "\r" not in subject
    assert subject == "Objet Bcc: x@example.org A B"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Jean\r\nBcc: x@y", "Jean Bcc: x@y"),
        ("=?UTF-8?Q?=0A?=Bcc: x@y", "= ?UTF-8?Q?=0A?=Bcc: x@y"),
        ("a\u2028b\u2029c\x00d\x85e", "a b c d e"),
        ("\u202eevil", "evil"),
        ("👩🏽\u200d🔧 Ұлжан", "👩🏽\u200d🔧 Ұлжан"),
    ],
)
def test_header_text_keeps_one_line_of_plain_text(raw, clean):
    assert header_text(raw) == clean


def test_header_text_blanks_exactly_the_controls_separators_and_bidi_controls_of_the_unicode_database():
    bidi_controls = set("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff")
    for start in range(0, sys.maxunicode + 1, 4096):
        characters = [chr(code) for code in range(start, min(start + 4096, sys.maxunicode + 1))]
        characters = [ch for ch in characters if unicodedata.category(ch) != "Cs"]  # lone surrogates are not text
        # Between letters, so that no space is at an end (stripped) or next to another (collapsed).
        text = "a".join(characters)
        expected = "a".join(
            " " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in bidi_controls else ch for ch in characters
        )
        assert header_text(text, max_length=len(text)) == " ".join(expected.split()).replace("=?", "= ?")


@given(st.text(max_size=200))
def test_encoded_words_hold_the_text_in_words_of_whole_characters_each_filled_as_far_as_it_goes(text):
    words = [line.strip() for line in encoded_words(text).split("\r\n")]
    chunks = [base64.b64decode(word.removeprefix("=?utf-8?b?").removesuffix("?=")) for word in words]
    assert b"".join(chunks) == text.encode()
    decoded = [chunk.decode() for chunk in chunks]  # whole characters: each word decodes on its own
    assert all(len(chunk) <= 39 for chunk in chunks)
    # Greedy: no word could have taken the next word's first character.
    assert all(
        len(chunk) + len(next_word[:1].encode()) > 39 for chunk, next_word in zip(chunks[:-1], decoded[1:], strict=True)
    )


def test_only_plain_addresses_may_become_a_reply_to():
    assert is_plain_address("first.last+tag@example.org")
    assert not is_plain_address('"a\x0bb"@example.org')
    assert not is_plain_address("a@b.org\nBcc: x@y")
    assert not is_plain_address("=?utf-8?q?x?=@example.org")


def test_campaign_markdown_is_rendered_and_sanitised():
    html = render_markdown(
        "**Libérez** [les](https://example.org)\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1))"
    )
    assert "<strong>Libérez</strong>" in html
    assert 'href="https://example.org"' in html
    assert "<script" not in html
    assert "javascript:" not in html


def test_a_composed_letter_reads_back_exactly_and_keeps_lines_short(db):
    from email.header import decode_header, make_header
    from email.parser import BytesParser
    from email.policy import compat32

    from courrier.delivery.compose import compose
    from courrier.delivery.models import OutboxMessage

    name = "Ұлжан Нұрсұлтан-Әбілқайыр " * 3 + '(CGT), "Dupont" 👩🏽‍🔧 via Courrier'
    subject = "Протест против репрессий в Алматы — " * 4
    message = OutboxMessage(
        kind="letter",
        message_id="<x@courrier.test>",
        from_name=name,
        from_email="letters@courrier.test",
        envelope_from="letters@courrier.test",
        to=["paris@mfa.kz"],
        cc=[f"c{i}@example.org" for i in range(12)],
        reply_to="ulzhan@example.org",
        subject=subject,
        body="Ligne\r\n.point\nfin   \n" + "é" * 300 + "\n",
        created_at=datetime.datetime(2026, 11, 24, tzinfo=datetime.UTC),
    )
    raw = compose(message)
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 78
    assert b"\n" not in raw.replace(b"\r\n", b"")
    parsed = BytesParser(policy=compat32).parsebytes(raw)
    assert str(make_header(decode_header(parsed["From"]))) == f"{header_text(name)} <letters@courrier.test>"
    assert str(make_header(decode_header(parsed["Subject"]))) == header_text(subject, 250)
    assert parsed["Cc"].replace("\r\n", "").count("@example.org") == 12
    assert parsed.get_payload(decode=True).decode() == "Ligne\r\n.point\r\nfin   \r\n" + "é" * 300 + "\r\n"
