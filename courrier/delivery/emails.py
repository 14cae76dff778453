"""One function per kind of e-mail sent to supporters.

Each renders templates/emails/NAME-subject.txt and NAME-body-text.txt in the
supporter's language and returns (subject, body). Plain text only: letters
and notices are read by people, and an HTML part raises the spam score.
"""

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation

from courrier.lib.headers import header_text


def _render(name: str, language: str, context: dict) -> tuple[str, str]:
    context = {"site_name": settings.SITE_NAME, "site_root": settings.SITE_ROOT, **context}
    with translation.override(language):
        subject = render_to_string(f"emails/{name}-subject.txt", context)
        body = render_to_string(f"emails/{name}-body-text.txt", context)
    return header_text(subject, 250), body.strip() + "\n"


# Every e-mail to a supporter ends with `my_data_url`: the page where they see, and can erase, what
# Courrier holds about them (templates/emails/my-data-footer-text.txt).


def confirmation(language: str, campaign, confirm_url: str, recipients: str, my_data_url: str = "") -> tuple[str, str]:
    """To an address nobody has proved yet: nothing typed on the form (not even the first name) goes in it,
    or whoever typed someone else's address could write to them in the platform's name."""
    return _render(
        "confirmation",
        language,
        {
            "campaign": campaign,
            "confirm_url": confirm_url,
            "recipients": recipients,
            "my_data_url": my_data_url,
        },
    )


def already_signed(language: str, campaign, campaign_url: str, my_data_url: str = "") -> tuple[str, str]:
    return _render(
        "already-signed", language, {"campaign": campaign, "campaign_url": campaign_url, "my_data_url": my_data_url}
    )


def letter_copy(
    language: str,
    campaign,
    first_name: str,
    recipients: str,
    letter_subject: str,
    letter_body: str,
    my_data_url: str = "",
):
    return _render(
        "letter-copy",
        language,
        {
            "campaign": campaign,
            "first_name": first_name,
            "recipients": recipients,
            "letter_subject": letter_subject,
            "letter_body": letter_body,
            "my_data_url": my_data_url,
        },
    )


def data_link(language: str, campaign_title: str, my_data_url: str, valid_days: int) -> tuple[str, str]:
    """The answer to the public "my data" form: the link for one signature of the address."""
    return _render(
        "data-link",
        language,
        {"campaign_title": campaign_title, "my_data_url": my_data_url, "valid_days": valid_days},
    )


def news(
    language: str,
    campaign_title: str,
    campaign_url: str,
    subject: str,
    body: str,
    unsubscribe_url: str,
    my_data_url: str = "",
) -> tuple[str, str]:
    """An organiser's update, as written, with why the supporter receives it and how to stop."""
    return _render(
        "news",
        language,
        {
            "campaign_title": campaign_title,
            "campaign_url": campaign_url,
            "subject": subject,
            "body": body,
            "unsubscribe_url": unsubscribe_url,
            "my_data_url": my_data_url,
        },
    )


def follow_up_invitation(
    language: str,
    campaign_title: str,
    campaign_url: str,
    name: str,
    invitation: str,
    letter_subject: str,
    letter_body: str,
    recipients: str,
    markers: dict[str, str],
) -> tuple[str, str]:
    """To a supporter who asked for news: what changed, the follow-up letter, and their own link that sends
    it in their name (`markers` stand for each supporter's links: send, unsubscribe, data)."""
    return _render(
        "follow-up",
        language,
        {
            "campaign_title": campaign_title,
            "campaign_url": campaign_url,
            "name": name,
            "invitation": invitation,
            "letter_subject": letter_subject,
            "letter_body": letter_body,
            "recipients": recipients,
            "send_url": markers["send"],
            "valid_days": settings.FOLLOW_UP_LINK_MAX_AGE_DAYS,
            "unsubscribe_url": markers["unsubscribe"],
            "my_data_url": markers["data"],
        },
    )


def invitation(language: str, organisation: str, role: str, url: str, expires) -> tuple[str, str]:
    """To the address a manager typed: who invites them, to do what, and the one-time link."""
    return _render("invitation", language, {"organisation": organisation, "role": role, "url": url, "expires": expires})


def answer(
    language: str,
    campaign,
    first_name: str,
    target_name: str,
    answer_subject: str,
    received_at,
    quoted: str,
    my_data_url: str = "",
) -> tuple[str, str]:
    """A target's answer to the supporter's letter, passed on because they asked for it on the form."""
    return _render(
        "answer",
        language,
        {
            "campaign": campaign,
            "first_name": first_name,
            "target_name": target_name,
            "answer_subject": answer_subject,
            "received_at": received_at,
            "quoted": quoted,
            "my_data_url": my_data_url,
        },
    )
