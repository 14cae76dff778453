"""The form embedded in an organisation's website: signed without any cookie, framed only where allowed."""

import http.server
import threading
import time
from functools import partial

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connections
from django.test import Client

from courrier.campaigns.directory import import_directory
from courrier.campaigns.models import Campaign
from courrier.lib.form_tokens import MAX_AGE_SECONDS, issue_form_token
from courrier.signatures.models import Signature
from courrier.web.embed import embed_snippet
from tests import helpers
from tests.browser import CHROMIUM, CHROMIUM_ARGS, in_chromium
from tests.conftest import free_port, wait_until
from tests.factories import EMBED_SIGN_URL, EMBED_URL, ORGANISATION_SITE, OWN_SLUG
from tests.helpers import form_token_in, maildir_messages, solved_proof

signature_form = partial(helpers.signature_form, OWN_SLUG)


def directives(response) -> dict[str, str]:
    policy = response["Content-Security-Policy"]
    return {part.strip().split(" ", 1)[0]: part.strip().split(" ", 1)[1] for part in policy.split(";")}


@pytest.fixture
def cookieless():
    """A browser in a third-party frame: it sends no cookie, so no CSRF cookie either."""
    return Client(enforce_csrf_checks=True)


def embed_sign(client: Client, token: str, **overrides):
    """Sign in the frame as a browser with JavaScript does: the form token, and a solved proof of work."""
    form = {**signature_form(**overrides), "form_token": token, "proof": solved_proof(client)}
    return client.post(EMBED_SIGN_URL, form)


# ---------- The page and its headers ----------


@pytest.mark.django_db
def test_the_embed_page_may_be_framed_by_the_listed_websites_only(embeddable, cookieless):
    response = cookieless.get(EMBED_URL)
    assert response.status_code == 200
    assert directives(response)["frame-ancestors"] == f"{ORGANISATION_SITE} http://localhost:8123"
    assert "X-Frame-Options" not in response, "X-Frame-Options would forbid every website"
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert directives(response)["script-src"].split(" ")[0] == "'self'"
    assert directives(response)["script-src"].split(" ")[1].startswith("'nonce-")  # the page's scripts' nonce
    html = response.content.decode()
    assert f'action="/fr/embed/{OWN_SLUG}/sign/"' in html
    assert 'name="form_token"' in html
    assert 'name="csrfmiddlewaretoken"' not in html
    assert f"Lettre {OWN_SLUG}" in html  # the letter, to read before signing


@pytest.mark.django_db
def test_nothing_in_the_embedded_flow_sets_or_needs_a_cookie(embeddable, cookieless):
    page = cookieless.get(EMBED_URL)
    challenge = cookieless.get("/pow/challenge/")  # the script's request for its proof of work
    signed = embed_sign(cookieless, form_token_in(page))
    thanks = cookieless.get(signed["Location"])
    assert [r.status_code for r in (page, challenge, signed, thanks)] == [200, 200, 302, 200]
    assert page.cookies == challenge.cookies == signed.cookies == thanks.cookies == {}
    assert not cookieless.cookies


@pytest.mark.django_db
def test_a_signature_from_the_frame_is_one_row_and_the_thanks_page_stays_in_the_frame(embeddable, cookieless):
    token = form_token_in(cookieless.get(EMBED_URL))
    response = embed_sign(cookieless, token, first_name="Ерлан", email="erlan@example.org", organisation="CGT")
    assert response.status_code == 302
    assert response["Location"] == f"/fr/embed/{OWN_SLUG}/thanks/"
    signature = Signature.objects.get()
    assert (signature.first_name, signature.email, signature.organisation) == ("Ерлан", "erlan@example.org", "CGT")
    assert signature.language == "fr"
    thanks = cookieless.get(response["Location"])
    assert "Consultez votre boîte de réception" in thanks.content.decode()
    assert directives(thanks)["frame-ancestors"] == f"{ORGANISATION_SITE} http://localhost:8123"
    assert "X-Frame-Options" not in thanks


@pytest.mark.django_db
def test_the_main_form_requires_its_own_token_not_the_embeds(embeddable, cookieless):
    embed_token = form_token_in(cookieless.get(EMBED_URL))
    response = cookieless.post(f"/fr/c/{OWN_SLUG}/sign/", signature_form(form_token=embed_token + "x"))
    assert response.status_code == 400
    assert not Signature.objects.exists()


# ---------- The form token ----------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("token", "message"),
    [
        pytest.param(
            lambda campaign: issue_form_token(campaign.pk, issued_at=time.time() - MAX_AGE_SECONDS - 60),
            "This form was open for too long",
            id="expired",
        ),
        pytest.param(lambda campaign: "forged:token", "This form could not be verified", id="forged"),
        pytest.param(
            lambda campaign: issue_form_token(campaign.pk)[:-2] + "xx", "This form could not be verified", id="altered"
        ),
        pytest.param(
            lambda campaign: issue_form_token(campaign.pk + 1), "This form could not be verified", id="other-campaign"
        ),
        pytest.param(
            lambda campaign: issue_form_token(campaign.pk, issued_at=time.time() + 3600),
            "This form could not be verified",
            id="from-the-future",
        ),
        pytest.param(lambda campaign: "", "This form could not be verified", id="missing"),
    ],
)
def test_a_form_with_a_bad_token_is_shown_again_with_the_answers_kept_and_nothing_stored(
    embeddable, cookieless, token, message
):
    response = cookieless.post(
        f"/en/embed/{OWN_SLUG}/sign/",
        {**signature_form(first_name="Жанар", city="Grenoble"), "form_token": token(embeddable)},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert 'value="Жанар"' in html and 'value="Grenoble"' in html
    assert form_token_in(response) != token(embeddable), "a fresh token lets the supporter send again"
    assert directives(response)["frame-ancestors"] == f"{ORGANISATION_SITE} http://localhost:8123"
    assert not Signature.objects.exists()

    again = cookieless.post(
        f"/en/embed/{OWN_SLUG}/sign/",
        {**signature_form(first_name="Жанар", city="Grenoble"), "form_token": form_token_in(response)},
    )
    assert again.status_code == 302
    assert Signature.objects.get().first_name == "Жанар"


@pytest.mark.django_db
def test_a_bad_token_and_bad_fields_are_reported_together(embeddable, cookieless):
    response = cookieless.post(
        f"/en/embed/{OWN_SLUG}/sign/",
        {**signature_form(email="not an address", consent_send=None), "form_token": "forged:token"},
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "This form could not be verified" in html
    assert 'href="#id_email"' in html and 'href="#id_consent_send"' in html


@pytest.mark.django_db
def test_invalid_fields_are_refused_in_the_frame_with_the_answers_kept(embeddable, cookieless):
    token = form_token_in(cookieless.get(EMBED_URL))
    response = embed_sign(cookieless, token, first_name="", last_name="Ахметова")
    assert response.status_code == 400
    assert 'value="Ахметова"' in response.content.decode()
    assert 'href="#id_first_name"' in response.content.decode()
    assert "X-Frame-Options" not in response
    assert not Signature.objects.exists()


@pytest.mark.django_db
def test_opening_the_address_of_a_refused_form_leads_back_to_the_form(embeddable, cookieless):
    response = cookieless.get(EMBED_SIGN_URL)
    assert response.status_code == 302
    assert response["Location"] == EMBED_URL
    assert "X-Frame-Options" not in response


# ---------- Abuse, as on the campaign page ----------


@pytest.mark.django_db
def test_the_honeypot_is_answered_like_a_signature_but_stores_nothing(embeddable, cookieless):
    token = form_token_in(cookieless.get(EMBED_URL))
    response = embed_sign(cookieless, token, website="http://spam.example")
    assert response.status_code == 302
    assert response["Location"].endswith(f"/embed/{OWN_SLUG}/thanks/")
    assert not Signature.objects.exists()


@pytest.mark.django_db
def test_the_frame_shares_the_signing_rate_limit(embeddable, cookieless, settings):
    settings.SIGNING_RATE_LIMIT = "2/3600"
    token = form_token_in(cookieless.get(EMBED_URL))
    statuses = [embed_sign(cookieless, token, email=f"s{i}@example.org").status_code for i in range(3)]
    assert statuses == [302, 302, 429]
    assert Signature.objects.count() == 2


# ---------- Campaigns that cannot be embedded ----------


@pytest.mark.django_db
def test_a_campaign_without_allowed_websites_cannot_be_framed_and_says_so(own_campaign, cookieless):
    assert own_campaign.embed_origins == ""
    response = cookieless.get(EMBED_URL)
    assert response.status_code == 403
    assert directives(response)["frame-ancestors"] == "'none'"
    html = response.content.decode()
    assert f'href="/fr/c/{OWN_SLUG}/"' in html
    assert "<form" not in html
    signed = embed_sign(cookieless, issue_form_token(own_campaign.pk))
    assert signed.status_code == 403
    assert not Signature.objects.exists()


@pytest.mark.django_db
def test_a_closed_campaign_takes_no_signature_from_the_frame(embeddable, cookieless):
    token = form_token_in(cookieless.get(EMBED_URL))
    Campaign.objects.filter(pk=embeddable.pk).update(status=Campaign.Status.CLOSED)
    response = embed_sign(cookieless, token)
    assert response.status_code == 410
    assert f'href="/fr/c/{OWN_SLUG}/"' in response.content.decode()
    assert not Signature.objects.exists()


@pytest.mark.django_db
def test_a_paused_campaign_says_so_in_the_frame(embeddable, cookieless):
    Campaign.objects.filter(pk=embeddable.pk).update(status=Campaign.Status.PAUSED)
    response = cookieless.get(EMBED_URL)
    assert response.status_code == 410
    assert 'class="status-box warning"' in response.content.decode()  # the pause notice, not "closed"
    assert "form_token" not in response.content.decode()


@pytest.mark.django_db
def test_the_frame_asks_for_the_country_when_the_campaign_has_a_directory(embeddable, cookieless):
    csv = b"country,country_name,name,email,language\nDE,Allemagne,Botschaft,berlin@example.org,\n"
    import_directory(embeddable, csv)
    Campaign.objects.filter(pk=embeddable.pk).update(use_directory=True)
    page = cookieless.get(EMBED_URL)
    assert '<select name="country"' in page.content.decode() and 'value="DE"' in page.content.decode()
    response = embed_sign(cookieless, form_token_in(page), country="DE")
    assert response.status_code == 302
    assert Signature.objects.get().directory_country == "DE"


@pytest.mark.django_db
def test_a_draft_campaign_has_no_embed_page(embeddable, cookieless):
    Campaign.objects.filter(pk=embeddable.pk).update(status=Campaign.Status.DRAFT)
    assert cookieless.get(EMBED_URL).status_code == 404
    assert embed_sign(cookieless, issue_form_token(embeddable.pk)).status_code == 404


# ---------- The organiser's side ----------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "origins",
    ["https://www.example.org", "https://example.org:8443/", "http://localhost:8000\nhttps://a.example\n\n"],
)
def test_website_origins_are_accepted(own_campaign, origins):
    own_campaign.embed_origins = origins
    own_campaign.full_clean()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "origins",
    [
        "www.example.org",
        "http://www.example.org",
        "https://www.example.org/petition",
        "https://www.example.org?x=1",
        "https://*.example.org",
        "https://example.org; script-src *",
        "https://example.org 'unsafe-inline'",
        "javascript:alert(1)",
        "https://example.org:99999",
    ],
)
def test_anything_but_an_origin_is_refused_with_a_clear_message(own_campaign, origins):
    own_campaign.embed_origins = origins
    with pytest.raises(ValidationError) as refused:
        own_campaign.full_clean()
    assert "embed_origins" in refused.value.message_dict


@pytest.mark.django_db
def test_the_admin_shows_the_snippet_in_each_language(embeddable, settings):
    settings.SITE_ROOT = "https://lettres.example"
    staff = Client()
    staff.force_login(User.objects.create_superuser("staff", password="a long test password"))
    html = staff.get(f"/admin/campaigns/campaign/{embeddable.pk}/change/").content.decode()
    for language in ("fr", "en", "ru", "kk"):
        assert f"&lt;iframe src=&quot;https://lettres.example/{language}/embed/{OWN_SLUG}/&quot;" in html, language
    assert "width=&quot;100%&quot; height=&quot;900&quot; loading=&quot;lazy&quot;&gt;&lt;/iframe&gt;" in html
    assert str(embed_snippet(embeddable, "fr")).startswith(
        f'<iframe src="https://lettres.example/fr/embed/{OWN_SLUG}/" title="Libérez les grévistes'
    )


# ---------- In a real browser, from another site ----------


class OrganisationWebsite:
    """The organisation's own website: a page with the snippet, served from another origin and site."""

    def __init__(self, html: str):
        page = html.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        # localhost and 127.0.0.1 are different sites: the frame is truly third-party.
        self.url = f"http://localhost:{self.port}/"
        self.origin = f"http://localhost:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def organisation_website():
    sites = []

    def serve(html: str) -> OrganisationWebsite:
        site = OrganisationWebsite(html)
        sites.append(site)
        return site

    yield serve
    for site in sites:
        site.close()


@pytest.fixture
def browser(monkeypatch):
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    connections.close_all()


def snippet_page(campaign: Campaign, settings, web_server: str) -> str:
    settings.SITE_ROOT = web_server
    snippet = embed_snippet(campaign, "fr")
    return f'<!doctype html><html lang="fr"><title>Red Yurt</title><h1>Signez ici</h1>{snippet}</html>'


@in_chromium
def test_a_supporter_signs_inside_the_frame_on_another_website(
    own_campaign, web_server, start_worker, organisation_website, browser, settings, sandbox_in_tmp
):
    website = organisation_website(snippet_page(own_campaign, settings, web_server))
    Campaign.objects.filter(pk=own_campaign.pk).update(embed_origins=website.origin)
    start_worker()
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="fr-FR")
    page = context.new_page()
    violations = []
    page.on("console", lambda message: "Content Security Policy" in message.text and violations.append(message.text))

    page.add_init_script("window.heights = []; addEventListener('message', e => heights.push(e.data));")
    page.goto(website.url)
    wait_until(lambda: page.evaluate("heights"), message="the frame to tell its height")
    assert page.evaluate("heights")[0]["type"] == "courrier:height"
    assert page.evaluate("heights")[0]["height"] > 844, "the whole form is taller than a phone screen"
    frame = page.frame_locator("iframe")
    frame.locator("#id_first_name").fill("Гүлнар")
    frame.locator("#id_last_name").fill("Сейітова")
    frame.locator("#id_email").fill("gulnar@example.org")
    frame.locator("#id_city").fill("Marseille")
    frame.locator("#id_consent_send").check()
    frame.get_by_role("button", name="Signer").click()
    frame.locator(".status-box").wait_for()
    assert page.url == website.url, "the thanks page stays inside the frame"
    assert f"/embed/{OWN_SLUG}/thanks/" in page.frames[1].url

    signature = wait_until(lambda: Signature.objects.with_address("gulnar@example.org").first(), message="the row")
    assert (signature.first_name, signature.city) == ("Гүлнар", "Marseille")
    assert signature.proof_digest is not None, "the frame's script solved the proof of work"
    confirmation = wait_until(
        lambda: [m for m in maildir_messages(sandbox_in_tmp) if "gulnar@example.org" in m["To"]],
        message="the confirmation e-mail",
    )[0]
    assert "/fr/confirm/" in confirmation.get_content()
    assert context.cookies() == [], "the embedded flow neither needs nor sets a cookie"
    assert violations == []


@in_chromium
@pytest.mark.parametrize("allowed", ["https://www.red-yurt.example", ""], ids=["another-website", "no-website"])
def test_a_website_that_is_not_listed_cannot_frame_the_form(
    own_campaign, web_server, organisation_website, browser, settings, allowed
):
    website = organisation_website(snippet_page(own_campaign, settings, web_server))
    Campaign.objects.filter(pk=own_campaign.pk).update(embed_origins=allowed)
    page = browser.new_page()
    refusals = []
    page.on("console", lambda message: "frame-ancestors" in message.text and refusals.append(message.text))

    with page.expect_response(lambda response: f"/embed/{OWN_SLUG}/" in response.url) as embed:
        page.goto(website.url)
    assert embed.value.status in (200, 403)
    page.wait_for_load_state("load")
    assert page.frames[1].locator("form").count() == 0, "chromium shows an error page in place of the form"
    wait_until(lambda: refusals, message="chromium to report the frame-ancestors refusal")
