"""Every letter of the demo campaign, in every language, passes SpamAssassin's local tests with room to spare."""

import os
import re
import shutil
import subprocess

import pytest
from django.test import Client

from courrier.delivery.worker import Worker
from tests.helpers import confirmation_path, sign

MAX_SCORE = 2.0
# The letter to the targets: its Reply-To is the campaign's relay address (delivery/answers.py), so a freemail
# supporter no longer costs FREEMAIL_FORGED_REPLYTO (1.2 points when Reply-To was their own address).
MAX_LETTER_SCORE = 1.0
SIGNERS = {
    "fr": {
        "first_name": "Camille",
        "last_name": "Durand",
        "city": "Lyon",
        "organisation": "Solidaires Rhône",
        "organisation_role": "co-secrétaire",
        "personal_sentence": "Libérez-les, nous ne les oublions pas.",
    },
    "en": {
        "first_name": "Sarah",
        "last_name": "Jones",
        "city": "Leeds",
        "organisation": "",
        "organisation_role": "",
        "personal_sentence": "The right to protest must be respected.",
    },
    "ru": {
        "first_name": "Кирилл",
        "last_name": "Алиев",
        "city": "Париж",
        "organisation": "Профсоюз работников",
        "organisation_role": "председатель",
        "personal_sentence": "Требуем освободить задержанных.",
    },
    "kk": {
        "first_name": "Ұлжан",
        "last_name": "Қасымова",
        "city": "Алматы",
        "organisation": "",
        "organisation_role": "",
        "personal_sentence": "Бейбіт шеруге шыққандарды босатыңыз.",
    },
}

if os.environ.get("COURRIER_REQUIRE_SPAMASSASSIN") and not shutil.which("spamassassin"):
    raise RuntimeError("COURRIER_REQUIRE_SPAMASSASSIN is set but spamassassin is not installed")

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        not shutil.which("spamassassin"),
        reason="Debian's spamassassin is not installed (apt-get install spamassassin; CI installs it)",
    ),
]


def spam_score(raw: bytes) -> tuple[float, str]:
    """SpamAssassin's score with local tests only (no network), and the rules that fired."""
    result = subprocess.run(["spamassassin", "-L", "-t"], input=raw, capture_output=True, timeout=120, check=True)
    status = re.search(rb"X-Spam-Status: \w+, score=(-?[\d.]+).*?tests=([^\n]*(?:\n\t[^\n]*)*)", result.stdout)
    assert status, result.stdout[-2000:]
    return float(status.group(1)), " ".join(status.group(2).decode().split())


@pytest.mark.parametrize("language", ["fr", "en", "ru", "kk"])
@pytest.mark.parametrize("supporter", ["supporter@example.org", "supporter.name@gmail.com"])
def test_the_demo_letter_scores_at_most_one_and_the_supporters_mail_at_most_two(
    demo, sandbox_in_tmp, language, supporter
):
    client = Client()
    assert sign(client, email=supporter, letter_language=language, **SIGNERS[language]).status_code == 302
    Worker().run_once()
    assert client.post(confirmation_path(sandbox_in_tmp)).status_code == 302
    Worker().run_once()
    boxes = sorted((sandbox_in_tmp / "new").iterdir())
    assert len(boxes) == 3  # the confirmation, the letter, the copy
    letters = 0
    for path in boxes:
        raw = path.read_bytes()
        score, rules = spam_score(raw)
        print(f"{language} {supporter} {path.name[-12:]}: {score} {rules}")
        is_letter = b"\nTo: paris@mfa.kz" in raw.replace(b"\r\n", b"\n")
        letters += is_letter
        assert score <= (MAX_LETTER_SCORE if is_letter else MAX_SCORE), f"{path.name}: {score} ({rules})"
        assert "FREEMAIL_FORGED_REPLYTO" not in rules
    assert letters == 1
