"""An XSS corpus through every text a supporter or an organiser writes executes nothing in a real browser.

One campaign carries the corpus in every organiser text (titles, summaries, the article's Markdown,
the photo's texts, the people, their timelines, the letters, the targets, the directory, the news,
the blocked words), in each of its four languages; supporters sign with the corpus in every field,
one of them by typing it into the form in Chromium (so the live letter preview shows it). Then
Chromium visits every page that shows any of it, public and back office, as Debian's chromium
against gunicorn.

The browser context bypasses the Content-Security-Policy on purpose: escaping and sanitising must
hold on their own, the policy is a second line (tests/test_csp.py tests it). Each page is watched
for a dialog, a console message or page error, a request to any host but 127.0.0.1, and the
`window.__xss` flag every payload tries to set; its DOM is searched for any element a payload
would create (each carries data-xss), an event-handler attribute, a javascript:, vbscript: or
non-image data: URL, and an inline script or style holding a payload.
"""

import re
import shutil
from urllib.parse import quote, urlsplit

import pytest
from django.contrib.auth.models import User
from django.db import connections
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from playwright.sync_api import sync_playwright

from courrier.accounts import totp
from courrier.accounts.models import Membership, Organisation, TOTPDevice
from courrier.campaigns.models import (
    BlockedWords,
    Campaign,
    CampaignText,
    DirectoryEntry,
    ModelLetter,
    Person,
    PersonUpdate,
    Target,
)
from courrier.delivery.models import OutboxMessage
from courrier.delivery.worker import Worker
from courrier.news.models import NewsUpdate
from courrier.news.tokens import unsubscribe_token
from courrier.signatures.models import Signature
from courrier.signatures.tokens import confirmation_token
from tests.browser import CHROMIUM, CHROMIUM_ARGS, PASSWORD, load_until, log_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed"),
]

SLUG = "xss"
EVIL_HOST = "xss.invalid"
# Each payload sets window.__xss, opens a dialog or asks for a file from another host if it ever runs;
# an element it makes carries data-xss, so that one that merely appears is found too.
PAYLOADS = [
    "<script>window.__xss=1;alert(1)</script>",
    '<img src=x onerror="window.__xss=2;alert(2)" data-xss>',
    '"><img src=x onerror=window.__xss=3 data-xss>',
    "'><svg onload=window.__xss=4 data-xss>",
    "<svg><script>window.__xss=5</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=window.__xss=6 data-xss>",
    "</textarea><script>window.__xss=7</script>",
    "</title><script>window.__xss=8</script>",
    '<iframe srcdoc="<script>parent.__xss=9</script>" data-xss></iframe>',
    '<a href="javascript:window.__xss=10" data-xss>x</a>',
    f'<img src="http://{EVIL_HOST}/1.png" data-xss>',
    '{{ 7|add:7 }}{% debug %}{{constructor.constructor("window.__xss=11")()}}',
    "&lt;script&gt;window.__xss=12&lt;/script&gt;",
    "%3Cscript%3Ewindow.__xss=13%3C/script%3E",
    '<object data="data:text/html,<script>parent.__xss=14</script>" data-xss></object>',
    "<details open ontoggle=window.__xss=15 data-xss>",
    '" autofocus onfocus="window.__xss=16" x="',
    "' autofocus onfocus='window.__xss=17' x='",
    f'<style>@import "http://{EVIL_HOST}/2.css";</style>',
    f'<base href="http://{EVIL_HOST}/">',
    '<meta http-equiv="refresh" content="0;url=javascript:window.__xss=18">',
    "\u202e<script>window.__xss=19</script>",
    "<scr<script>ipt>window.__xss=20</scr</script>ipt>",
    "javascript:window.__xss=21",
]
# What only Markdown can say: links and images with dangerous addresses, raw and encoded HTML.
MARKDOWN = "\n\n".join(
    [
        "[lien](javascript:window.__xss=30) [data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "![image](javascript:window.__xss=31) ![distante](http://xss.invalid/3.png) [vb](vbscript:msgbox(1))",
        '<a href="jav&#x61;script:window.__xss=32">encodé</a> [espaces]( javascript:window.__xss=33 )',
        '[titre](https://example.org "\\" onmouseover=\\"window.__xss=34") <http://xss.invalid/>',
        "<svg/onload=window.__xss=35> <math href=javascript:window.__xss=36>m</math>",
        '[ref][1]\n\n[1]: javascript:window.__xss=37 "t"',
        *PAYLOADS,
    ]
)


def packs(limit: int) -> list[str]:
    """The payloads grouped into as few strings as fit in a field of `limit` characters."""
    groups, current = [], ""
    for payload in PAYLOADS:
        if current and len(current) + 1 + len(payload) > limit:
            groups.append(current)
            current = ""
        current = f"{current} {payload}".strip()
    return [*groups, current]


ALL = " ".join(PAYLOADS)  # for the fields with room for the whole corpus
SHORT = packs(100)  # a name, a city, a role: each signature carries another group
PAGE_LANGUAGES = ["fr", "en", "ru", "kk"]


class World:
    def __init__(self):
        self.organisation = Organisation.objects.create(name=packs(200)[0], contact_email="lyon@example.org")
        # The site's operator (the admin is theirs), and a manager of the organisation (in the studio).
        self.user = User.objects.create_superuser("camille", "camille@example.org", PASSWORD)
        Membership.objects.create(user=self.user, organisation=self.organisation, role=Membership.Role.MANAGER)
        self.secret = totp.generate_secret()
        TOTPDevice.objects.create(user=self.user, secret=self.secret, confirmed_at=timezone.now())
        self.campaign = campaign = Campaign.objects.create(
            organisation=self.organisation,
            slug=SLUG,
            language="fr",
            title=packs(200)[0],
            summary=ALL[:600],
            article=MARKDOWN,
            photo_static="img/demo-illustration.svg",
            photo_alt=packs(300)[1],
            photo_caption=packs(300)[2],
            photo_credit=packs(200)[3],
            closing_message=ALL,
            status=Campaign.Status.LIVE,
            use_directory=True,
            allow_letter_editing=True,
            bilingual_letters=True,
            goal=1000,
            embed_origins="https://www.example.org",
        )
        for role, name, email, language in [
            (Target.Role.TO, packs(200)[0], "ambassade@example.org", "ru"),
            (Target.Role.CC, packs(200)[1], "allies@example.org", ""),
        ]:
            Target.objects.create(campaign=campaign, role=role, name=name, email=email, language=language)
        for country, group in [("FR", 0), ("BE", 1), ("DE", 2)]:
            DirectoryEntry.objects.create(
                campaign=campaign,
                country=country,
                country_name=packs(100)[group],
                name=packs(200)[group],
                email=f"{country.lower()}@example.org",
            )
        for language in PAGE_LANGUAGES:
            ModelLetter.objects.create(
                campaign=campaign,
                language=language,
                subject=packs(200)[PAGE_LANGUAGES.index(language)],
                body=f"{ALL}\n\n{{personal_sentence}}\n\n{{place_and_date}}\n\n{{signature}}",
                is_translation=language != "fr",
            )
            if language != "fr":
                CampaignText.objects.create(
                    campaign=campaign,
                    language=language,
                    title=packs(200)[1],
                    summary=ALL[:600],
                    article=MARKDOWN,
                    photo_alt=packs(300)[0],
                    photo_caption=packs(300)[1],
                    photo_credit=packs(200)[2],
                    translation_note=packs(200)[3],
                )
        for position, group in enumerate(packs(200)[:3]):
            person = Person.objects.create(
                campaign=campaign, name=group, other_spellings=", ".join(packs(500)[:1]), position=position
            )
            for language in PAGE_LANGUAGES:
                PersonUpdate.objects.create(person=person, date=timezone.localdate(), language=language, text=ALL)
        BlockedWords.objects.create(campaign=campaign, language="fr", words="\n".join(PAYLOADS))
        self.news = NewsUpdate.objects.create(campaign=campaign, language="fr", subject=packs(200)[0], body=ALL)
        # A closed campaign shows its closing message; an archived one keeps a notice.
        for slug, status in [("xss-closed", Campaign.Status.CLOSED), ("xss-archived", Campaign.Status.ARCHIVED)]:
            Campaign.objects.create(
                organisation=self.organisation,
                slug=slug,
                title=packs(200)[2],
                summary=ALL[:600],
                article=MARKDOWN,
                closing_message=ALL,
                status=status,
            )

    def signatures(self) -> list[Signature]:
        """Supporters with the corpus in every field, confirmed, their organisations listed, one held for review."""
        created = []
        for index, group in enumerate(SHORT):
            created.append(
                Signature.objects.create(
                    campaign=self.campaign,
                    first_name=group,
                    last_name=SHORT[(index + 1) % len(SHORT)],
                    email=f"s{index}@example.org",
                    city=SHORT[(index + 2) % len(SHORT)],
                    country=SHORT[(index + 3) % len(SHORT)],
                    organisation=packs(200)[index % len(packs(200))],
                    organisation_role=SHORT[(index + 4) % len(SHORT)],
                    personal_sentence=ALL[:600] if index else "https://example.org " + ALL[:500],  # a link: held
                    letter_body=f"{ALL}\n{{personal_sentence}}\n{{signature}}" if index % 2 else "",
                    language=PAGE_LANGUAGES[index % 4],
                    letter_language=PAGE_LANGUAGES[(index + 1) % 4],
                    directory_country=["FR", "BE", "DE", "-"][index % 4],
                    consent_send=True,
                    consent_list_organisation=True,
                    consent_news=True,
                    confirmed_at=timezone.now(),
                )
            )
        return created


@pytest.fixture
def world(transactional_db) -> World:
    return World()


class Watch:
    """Everything a payload would do if it ran, on one page, across navigations."""

    def __init__(self, page):
        self.page = page
        self.events: list[str] = []
        page.on("dialog", self.on_dialog)
        page.on("console", self.on_console)
        page.on("pageerror", lambda error: self.events.append(f"page error: {error}"))
        page.route("**/*", self.on_request)

    def on_console(self, message) -> None:
        # The browser's own note of a 4xx answer (a refused form, a page not found) is not a payload's doing.
        if not message.text.startswith("Failed to load resource: the server responded with a status of 4"):
            self.events.append(f"console {message.type}: {message.text}")

    def on_dialog(self, dialog) -> None:
        self.events.append(f"dialog {dialog.type}: {dialog.message}")
        dialog.dismiss()

    def on_request(self, route) -> None:
        host = urlsplit(route.request.url).hostname
        if route.request.url.startswith(("data:", "blob:")) or host == "127.0.0.1":
            route.continue_()
        else:
            self.events.append(f"request to another host: {route.request.url}")
            route.abort()

    def submit(self, button, where: str) -> None:
        """Press a form's button and wait for the page it leads to, then check that page.

        Waiting for the navigation itself, never for a load state (still the old page's, just after the
        click) nor for time: evaluating a page while it navigates away fails, on a busy machine more often.
        """
        with self.page.expect_navigation(wait_until="load"):
            button.click()
        self.check(where)

    def visit(self, url: str, status: int | None = 200) -> None:
        response = self.page.goto(url)
        if status is not None:
            assert response.status == status, (url, response.status)
        self.check(url)

    def check(self, where: str) -> None:
        page = self.page
        page.wait_for_load_state("load")
        page.evaluate(IMAGES_SETTLED)  # a payload's onerror fires once its image's 404 is back
        found = page.evaluate(DOM_AUDIT)
        flag = page.evaluate("window.__xss")
        assert not found and flag is None and not self.events, {
            "page": where,
            "dom": found,
            "flag": flag,
            "events": self.events,
        }


# Resolves once every image of the page has loaded or failed: its own error handlers ran before ours.
IMAGES_SETTLED = """() => Promise.all([...document.images].filter(image => !image.complete).map(image =>
  new Promise(done => { image.addEventListener("load", done, {once: true});
                        image.addEventListener("error", done, {once: true}); })))"""

DOM_AUDIT = """() => {
  const found = [];
  const dangerous = /^(javascript|vbscript):|^data:(?!image\\/(png|jpeg|gif|webp)[;,])/;
  for (const el of document.querySelectorAll("*")) {
    const tag = el.tagName.toLowerCase();
    if (el.hasAttribute("data-xss")) found.push(`an element from a payload: <${tag}>`);
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      if (name.startsWith("on")) found.push(`<${tag} ${name}="${attr.value.slice(0, 60)}">`);
      if (["href", "src", "action", "formaction", "xlink:href", "data", "srcdoc", "content"].includes(name)) {
        const value = attr.value.replace(/[\\s\\x00-\\x1f]/g, "").toLowerCase();
        if (name === "srcdoc" || dangerous.test(value) || (name === "content" && value.includes("url=javascript")))
          found.push(`<${tag} ${name}="${attr.value.slice(0, 60)}">`);
      }
    }
    if (tag === "script" && el.type === "application/json") {
      // Data for a script: it may hold the payloads, as JSON that cannot close its element.
      if (el.textContent.includes("<")) found.push("a < left unescaped in JSON data");
    } else if ((tag === "script" || tag === "style") && /__xss|xss\\.invalid/.test(el.textContent))
      found.push(`<${tag}> holding a payload`);
    if (["base", "iframe", "object", "embed"].includes(tag)) found.push(`<${tag}>`);
  }
  return found;
}"""


@pytest.fixture
def chromium(monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop runs in this thread
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
        connections.close_all()


def new_page(chromium, **options):
    # bypass_csp: the payloads must be inert by escaping alone.
    context = chromium.new_context(bypass_csp=True, **options)
    context.set_default_timeout(10_000)
    return Watch(context.new_page())


def run_worker_once() -> None:
    """The worker's pass, in this process: confirmations and letters queued and written to the sandbox, tallies."""
    worker = Worker()
    try:
        worker.schedule.forget()
        worker.run_once()
    finally:
        worker.close()


def test_the_xss_corpus_in_every_field_executes_nothing_on_any_page(world, web_server, chromium):
    root = web_server
    supporter = new_page(chromium, viewport={"width": 390, "height": 844}, locale="fr-FR")
    sign_with_the_corpus_typed_in_the_form(supporter, root)
    signatures = world.signatures()
    run_worker_once()
    # The payloads hold addresses, so every letter was held for review: approved, all but the first go.
    held = Signature.objects.filter(moderation=Signature.Moderation.HELD).exclude(pk=signatures[0].pk)
    held.update(moderation=Signature.Moderation.APPROVED)
    typed = Signature.objects.exclude(pk__in=[s.pk for s in signatures]).get(is_duplicate=False)
    confirm_and_see_the_thank_you_page(supporter, root, typed)
    run_worker_once()
    world.campaign.refresh_from_db()
    assert world.campaign.tally_organisations, "the organisations list is shown"
    assert Signature.objects.filter(moderation=Signature.Moderation.HELD).exists()

    visit_every_public_page(supporter, root, world, signatures[1])
    organiser = new_page(chromium, viewport={"width": 1280, "height": 900}, locale="en-GB")
    log_in(organiser.page, root, "camille", secret=world.secret)
    organiser.check("the admin's index")
    visit_every_back_office_page(organiser, root, world, signatures)
    visit_every_studio_page(organiser, root, world)


def sign_with_the_corpus_typed_in_the_form(watch: Watch, root: str) -> None:
    page = watch.page
    watch.visit(f"{root}/fr/c/{SLUG}/?src={quote(ALL)}")
    assert page.locator("h1").inner_text() == Campaign.objects.get(slug=SLUG).title, "the title shows as text"
    for field, value in [
        ("#id_first_name", SHORT[0]),
        ("#id_last_name", SHORT[1]),
        ("#id_email", "ulzhan@example.org"),
        ("#id_city", SHORT[2]),
        ("#id_organisation", packs(200)[1]),
        ("#id_organisation_role", SHORT[3]),
        ("#id_personal_sentence", ALL[:600]),
    ]:
        page.fill(field, value)
    page.select_option("#id_country", "FR")
    page.check("#id_consent_list_organisation")
    page.locator("details:has(#id_letter_body) summary").first.click()
    page.fill("#id_letter_body", f"{ALL}\n{{personal_sentence}}\n{{signature}}")
    watch.check("the form, its letter preview filled in with the corpus")
    # Without the agreement the form comes back with every value as typed: the values are reflected.
    watch.submit(page.get_by_role("button", name="Signer"), "the form refused, with the values reflected")
    assert page.input_value("#id_first_name") == SHORT[0], "a reflected value is kept as typed"
    page.check("#id_consent_send")
    watch.submit(page.get_by_role("button", name="Signer"), "check your inbox")
    assert page.url.endswith("/check-your-inbox/"), page.url


def confirm_and_see_the_thank_you_page(watch: Watch, root: str, signature: Signature) -> None:
    page = watch.page
    watch.visit(f"{root}/fr/confirm/{confirmation_token(signature.pk)}/")
    watch.submit(page.get_by_role("button").filter(has_text="Confirmer"), "the thank-you page")


def translated_path(language: str, name: str) -> str:
    with translation.override(language):
        return reverse(name)


def visit_every_public_page(watch: Watch, root: str, world: World, signature: Signature) -> None:
    for language in PAGE_LANGUAGES:
        watch.visit(f"{root}/{language}/")
        watch.visit(f"{root}/{language}/c/{SLUG}/")
        watch.visit(f"{root}/{language}/c/{SLUG}/own-mailbox/?letter={language}")
        watch.visit(f"{root}/{language}/embed/{SLUG}/")
    load_until(watch.page, f"{root}/fr/c/{SLUG}/", lambda: watch.page.locator(".org-list").count() > 0, "the list")
    watch.visit(f"{root}/fr/c/{SLUG}/")
    organisations = watch.page.locator(".org-list").inner_text()
    assert "<script>" in organisations, "the organisations that signed are listed, as text"
    watch.visit(f"{root}/fr/c/{SLUG}/check-your-inbox/")
    watch.visit(f"{root}/fr/c/{SLUG}/qr.svg")
    watch.visit(f"{root}/fr/embed/{SLUG}/thanks/")
    watch.visit(f"{root}/fr/c/xss-closed/")
    watch.visit(f"{root}/fr/c/xss-archived/", status=410)
    watch.visit(f"{root}/fr/news/unsubscribe/{unsubscribe_token(signature.pk)}/")
    watch.visit(f"{root}/fr/confirm/{confirmation_token(signature.pk)}/")
    watch.visit(f"{root}/fr/confirm/{quote(ALL, safe='')}/", status=None)
    watch.visit(f"{root}/fr/c/{quote(SHORT[0], safe='')}/", status=404)
    try:  # the page to see and erase one's data, once it exists
        watch.visit(root + translated_path("fr", "my_data_request"))
    except NoReverseMatch:
        pass

    # The embedded form, sent without its agreement: every value reflected in the frame's page.
    page = watch.page
    watch.visit(f"{root}/fr/embed/{SLUG}/")
    page.fill("#id_first_name", SHORT[4])
    page.fill("#id_last_name", SHORT[5])
    page.fill("#id_email", "embed@example.org")
    page.fill("#id_personal_sentence", ALL[:600])
    page.select_option("#id_country", "BE")
    watch.submit(page.locator("form button[type=submit]"), "the embedded form refused, with the values reflected")


def visit_every_studio_page(watch: Watch, root: str, world: World) -> None:
    """What organisers see of the same data: the studio's pages of the campaign, its team and its mail."""
    campaign = world.campaign
    studio = f"{root}/en/studio"
    base = f"{studio}/c/{campaign.pk}"
    for path in [
        "/",
        "/story/",
        "/people/",
        f"/people/{campaign.people.first().pk}/",
        "/letter/fr/",
        "/page/en/",
        "/recipients/",
        "/directory/",
        "/options/",
        "/publish/",
        "/publish/page/?lang=fr",
        "/publish/letter/?lang=fr",
        "/published/",
        "/progress/",
        "/held/",
        "/held/rules/",
        "/delivery/",
        "/news/",
    ]:
        watch.visit(base + path)
    for path in ["/", f"/team/{world.organisation.pk}/", f"/team/{world.organisation.pk}/audit/", "/mailbox/"]:
        watch.visit(studio + path)
    keys = watch.page.locator("main a[href*='/studio/mailbox/']").evaluate_all("links => links.map(a => a.href)")
    assert keys, "the test mailbox lists the campaign's mail"
    for url in keys[:6]:
        watch.visit(url)


def visit_every_back_office_page(watch: Watch, root: str, world: World, signatures: list[Signature]) -> None:
    campaign = world.campaign
    held = Signature.objects.filter(moderation=Signature.Moderation.HELD).first()
    letter = OutboxMessage.objects.filter(kind=OutboxMessage.Kind.LETTER).first()
    person = campaign.people.first()
    admin = f"{root}/admin"
    paths = [
        "/campaigns/campaign/",
        f"/campaigns/campaign/{campaign.pk}/change/",
        f"/campaigns/campaign/{campaign.pk}/preview/",
        f"/campaigns/campaign/{campaign.pk}/preview/letter/",
        f"/campaigns/campaign/{campaign.pk}/preview/letter/?country=FR",
        f"/campaigns/campaign/{campaign.pk}/progress/",
        "/accounts/organisation/",
        f"/accounts/organisation/{world.organisation.pk}/change/",
        "/campaigns/target/",
        f"/campaigns/target/{campaign.targets.first().pk}/change/",
        "/campaigns/person/",
        f"/campaigns/person/{person.pk}/change/",
        "/signatures/signature/",
        f"/signatures/signature/?q={quote(SHORT[0])}",
        f"/signatures/signature/{signatures[2].pk}/change/",
        "/signatures/heldsignature/",
        f"/signatures/heldsignature/{held.pk}/change/",
        "/campaigns/blockedwords/",
        f"/campaigns/blockedwords/{campaign.blocked_words.get().pk}/change/",
        "/delivery/outboxmessage/",
        f"/delivery/outboxmessage/{letter.pk}/change/",
        "/news/newsupdate/",
        f"/news/newsupdate/{world.news.pk}/change/",
        f"/news/newsupdate/{world.news.pk}/preview/",
        f"/news/newsupdate/send/?ids={world.news.pk}",
        "/accounts/auditentry/",
        "/sandbox/",
    ]
    for path in paths:
        watch.visit(admin + path)
    page = watch.page
    watch.visit(admin + "/sandbox/")
    keys = page.locator("#content a[href*='/admin/sandbox/']").evaluate_all("links => links.map(a => a.href)")
    assert keys, "the sandbox lists the campaign's mail"
    for url in keys[:6]:
        watch.visit(url)
    # Saving the campaign's change form sends every text back through its inputs and textareas.
    watch.visit(f"{admin}/campaigns/campaign/{campaign.pk}/change/")
    with page.expect_navigation():
        page.get_by_role("button", name="Save and continue editing").click()
    watch.check("the campaign's change form, saved")
    assert re.search(r"/change/$", page.url), page.url
