"""Small steps shared by the tests: sign like a browser, read the mail that came out."""

import email
import email.policy
import mailbox
import re
from html.parser import HTMLParser
from pathlib import Path

from django.db import connection
from django.test import Client

CAMPAIGN_URL = "/fr/c/kazakhstan-repression/"
SIGN_URL = CAMPAIGN_URL + "sign/"


def signature_form(slug: str = "kazakhstan-repression", **overrides) -> dict[str, str]:
    """The signing form as the campaign page serves it (with its signed form token), filled in."""
    form = {
        "form_token": page_form_token(slug),
        "first_name": "Ұлжан",
        "last_name": "Қасымова",
        "email": "ulzhan@example.org",
        "city": "Lyon",
        "country": "France",
        "organisation": "",
        "organisation_role": "",
        "personal_sentence": "",
        "letter_language": "fr",
        "consent_send": "on",
    }
    form.update(overrides)
    return {key: value for key, value in form.items() if value is not None}


def page_form_token(slug: str) -> str:
    """The token the campaign page puts in its signing form (the campaign's, issued now)."""
    from courrier.campaigns.models import Campaign
    from courrier.lib.form_tokens import issue_form_token

    campaign_id = Campaign.objects.filter(slug=slug).values_list("pk", flat=True).first()
    return issue_form_token(campaign_id) if campaign_id else ""


def sign(client: Client, proof: bool = True, slug: str = "kazakhstan-repression", **overrides):
    """Sign as a browser does: with JavaScript, the form carries a solved proof of work; without, none."""
    form = signature_form(slug, **overrides)
    if proof:
        form["proof"] = solved_proof(client)
    return client.post(f"/fr/c/{slug}/sign/", form)


def form_token_in(response) -> str:
    """The signed form token a page's signing form carries."""
    html = response.content.decode()
    return html.split('name="form_token" value="')[1].split('"')[0]


def solved_proof(client: Client) -> str:
    """What the page's script puts in the hidden "proof" field: a challenge from the site, solved."""
    from courrier.lib import proof_of_work

    challenge = client.get("/pow/challenge/").json()
    return proof_of_work.encode(challenge, proof_of_work.solve(challenge))


def maildir_messages(path: Path) -> list[email.message.EmailMessage]:
    box = mailbox.Maildir(path, factory=None, create=True)
    return [email.message_from_bytes(box.get_bytes(key), policy=email.policy.default) for key in sorted(box.keys())]


def confirmation_path(message_or_maildir) -> str:
    """The path of the confirmation link in a confirmation e-mail (or the one in a Maildir)."""
    if isinstance(message_or_maildir, Path):
        # Maildir names sort by second, not within one: look for the message itself.
        message_or_maildir = next(m for m in maildir_messages(message_or_maildir) if "/confirm/" in m.get_content())
    message = message_or_maildir
    match = re.search(r"https?://[^/\s]+(/\w\w/confirm/[^\s]+/)", message.get_content())
    assert match, message.get_content()
    return match.group(1)


def decoded_header(message: email.message.EmailMessage, name: str) -> str:
    """A header decoded as mail clients do (Python's parser spaces out adjacent encoded words)."""
    from email.header import decode_header, make_header

    raw = next(value for key, value in message.raw_items() if key.lower() == name.lower())
    return str(make_header(decode_header(raw)))


def body_text(message: email.message.EmailMessage) -> str:
    """The text as a reader sees it, with the wire's CRLF line ends made plain."""
    return message.get_content().replace("\r\n", "\n")


def letters():
    """The letters in the outbox (not confirmations, copies or staff alerts)."""
    from courrier.delivery.models import OutboxMessage

    return OutboxMessage.objects.filter(kind=OutboxMessage.Kind.LETTER)


def dsn(to: str, status: str, recipient: str, diagnostic: str = "550 5.7.1 blocked") -> bytes:
    """A delivery status notification (RFC 3464) about `recipient`, as its server sends one back to `to`."""
    server = "mx." + recipient.rpartition("@")[2]
    return (
        f"From: MAILER-DAEMON@{server}\r\nTo: {to}\r\nSubject: Undelivered Mail\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        f"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; {server}\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {diagnostic}\r\n\r\n--B--\r\n"
    ).encode()


def same_page(response) -> str:
    """The page without what differs on every request whoever asks: script nonces, form and CSRF tokens."""
    page = re.sub(r'nonce="[^"]*"', 'nonce=""', response.content.decode())
    page = re.sub(r'name="form_token" value="[^"]*"', 'name="form_token"', page)
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', 'name="csrfmiddlewaretoken"', page)


def raw_row(model, pk: int, names: list[str]) -> dict[str, str]:
    """The columns as the database holds them, without the fields' decryption."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in names)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {quote(model._meta.db_table)} WHERE id = %s", [pk])  # noqa: S608
        return dict(zip(names, cursor.fetchone(), strict=True))


def sql_dump() -> str:
    """Every row of every table, read through SQL: what any database client would show."""
    lines = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            lines += [f"{table}: {row!r}" for row in cursor.fetchall()]
    return "\n".join(lines)


class FormFields(HTMLParser):
    """The fields of an HTML form as a browser would submit them."""

    def __init__(self, html: str):
        super().__init__()
        self.data: dict[str, str] = {}
        self.textarea: str | None = None
        self.select: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        name = attributes.get("name") or ""
        if "__prefix__" in name:
            return
        if tag == "input" and name and attributes.get("type") not in ("submit", "file", "button"):
            if attributes.get("type") not in ("checkbox", "radio") or "checked" in attributes:
                self.data[name] = attributes.get("value") or ("on" if attributes.get("type") == "checkbox" else "")
        elif tag == "textarea" and name:
            self.textarea = name
            self.data[name] = ""
        elif tag == "select" and name:
            self.select = name
        elif tag == "option" and self.select and ("selected" in attributes or self.select not in self.data):
            # A browser sends the selected option, or the first one when none is.
            self.data[self.select] = attributes.get("value") or ""

    def handle_data(self, data):
        if self.textarea:
            self.data[self.textarea] += data

    def handle_endtag(self, tag):
        if tag == "textarea":
            if self.textarea:
                self.data[self.textarea] = self.data[self.textarea].removeprefix("\n")
            self.textarea = None
        elif tag == "select":
            self.select = None


def change_form(client: Client, campaign) -> tuple[str, dict[str, str]]:
    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    start = page.index('<form enctype="multipart/form-data"')
    form = page[start : page.index("</form>", start)]
    return page, FormFields(form).data


def admin_form(client: Client, url: str) -> dict[str, str]:
    """The fields of an admin change (or add) form as the browser would post them back."""
    page = client.get(url).content.decode()
    start = re.search(r'<form [^>]*id="\w+_form"', page).start()
    return FormFields(page[start : page.index("</form>", start)]).data


def page_form(client: Client, url: str, marker: str = 'class="studio-form') -> dict[str, str]:
    """The fields of the first form of a page whose tag holds `marker`, as the browser would post them."""
    page = client.get(url).content.decode()
    start = page.rindex("<form", 0, page.index(marker) + 1)
    return FormFields(page[start : page.index("</form>", start)]).data


def unsubscribe_addresses(message) -> dict[str, str]:
    """The addresses of a List-Unsubscribe header (RFC 2369), by scheme: {"mailto": ..., "http": ...}."""
    found = re.findall(r"<([^>]+)>", str(message["List-Unsubscribe"]).replace("\r\n", ""))
    return {address.split(":", 1)[0].replace("https", "http"): address for address in found}


def deliver_everything() -> None:
    """The worker's passes, in this process, until nothing is left to do now."""
    # Imported here: tests.helpers is imported by conftest before Django's apps are ready.
    from courrier.delivery.worker import Worker

    worker = Worker()
    try:
        while worker.run_once():
            pass
    finally:
        worker.close()


def letters_to(sandbox: Path, sender_name: str, address: str) -> list[email.message.EmailMessage]:
    """The letters in the sandbox mailbox to `address` from the supporter named `sender_name`."""
    return [m for m in maildir_messages(sandbox) if m["To"] == address and sender_name in str(m["From"])]


def held_queue(campaign) -> str:
    """The studio's page of a campaign's letters held for review."""
    return f"/fr/studio/c/{campaign.pk}/held/"


def decide(client: Client, campaign, decision: str, *signatures):
    """A manager ticks these letters in the queue and presses approve ("approve") or reject ("reject")."""
    return client.post(
        held_queue(campaign) + "decide/", {"decision": decision, "signature": [s.pk for s in signatures]}
    )
