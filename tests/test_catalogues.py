"""Every catalogue is complete, and what runs is what the catalogue says."""

from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

LOCALE = Path(settings.BASE_DIR) / "locale"
LANGUAGES = ["fr", "ru", "kk"]


def catalogue(language: str) -> polib.POFile:
    return polib.pofile(str(LOCALE / language / "LC_MESSAGES" / "django.po"))


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_catalogue_has_no_untranslated_or_fuzzy_entry(language):
    po = catalogue(language)
    assert [e.msgid for e in po.untranslated_entries()] == []
    assert [e.msgid for e in po.fuzzy_entries()] == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_catalogue_matches_its_source(language):
    """A stale .mo would show supporters text that nobody reviewed: run `make messages`."""
    with translation.override(language):
        for entry in catalogue(language).translated_entries():
            if entry.msgid_plural:
                assert translation.ngettext(entry.msgid, entry.msgid_plural, 1) == entry.msgstr_plural[0]
            elif entry.msgctxt:
                assert translation.pgettext(entry.msgctxt, entry.msgid) == entry.msgstr
            else:
                assert translation.gettext(entry.msgid) == entry.msgstr, entry.msgid


@pytest.mark.django_db
def test_a_kazakh_supporter_reads_every_form_error_in_kazakh(demo):
    response = Client().post(
        "/kk/c/kazakhstan-repression/sign/",
        {"first_name": "x" * 101, "last_name": "", "email": "nope", "letter_language": "zz"},
    )
    page = response.content.decode()
    assert response.status_code == 400
    for english in ("Enter a valid email address", "This field is required", "Ensure this value", "Select a valid"):
        assert english not in page
    assert "Дұрыс электрондық пошта мекенжайын енгізіңіз." in page


def test_every_string_in_the_code_is_in_the_catalogues(tmp_path):
    """A string added without `make messages` would reach supporters untranslated."""
    import os
    import shutil
    import subprocess
    import sys

    base = Path(settings.BASE_DIR)
    for folder in ("courrier", "templates"):
        shutil.copytree(base / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__", "static"))
    shutil.copy(base / "manage.py", tmp_path)
    (tmp_path / "locale" / "fr" / "LC_MESSAGES").mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "COURRIER_VAR_DIR": str(tmp_path / "var")}
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "fr", "--no-location"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
    )
    extracted = polib.pofile(str(tmp_path / "locale" / "fr" / "LC_MESSAGES" / "django.po"))
    known = {(entry.msgctxt, entry.msgid) for entry in catalogue("fr")}
    missing = [entry.msgid for entry in extracted if (entry.msgctxt, entry.msgid) not in known]
    assert missing == [], "run `make messages` and translate these"
