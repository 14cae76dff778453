"""The journey in a real browser: Debian's chromium driven by Playwright, against gunicorn and the worker."""

from urllib.parse import urlsplit

from courrier.campaigns.models import Campaign
from tests.browser import BROWSER_MARKS, load_until
from tests.conftest import wait_until
from tests.helpers import body_text, confirmation_path

pytestmark = BROWSER_MARKS


def test_a_supporter_signs_on_a_phone_and_the_letter_is_delivered(
    demo, smtp_sink, start_worker, web_server, browser_page
):
    Campaign.objects.filter(pk=demo.pk).update(real_delivery=True)
    start_worker(EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(smtp_sink.port), EMAIL_USE_TLS="0", SITE_ROOT=web_server)
    page = browser_page

    page.goto(web_server + "/")
    page.get_by_role("link", name="Répression du mouvement social au Kazakhstan").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Répression du mouvement social au Kazakhstan"
    assert "avant son arrestation" in page.locator("figcaption").inner_text()
    assert "Monsieur l’Ambassadeur du Kazakhstan en France" in page.locator(".model-letter").inner_text()
    assert "Red Yurt" in page.locator(".recipients").inner_text()
    # The stylesheet, the fonts and the illustration are served by the site itself.
    assert page.locator("figure.campaign-photo img").evaluate("img => img.complete && img.naturalWidth > 0")
    assert page.evaluate("getComputedStyle(document.body).fontFamily").startswith('"Courrier Sans"')
    loaded = page.evaluate("async () => (await document.fonts.load('16px \"Courrier Sans\"', 'әғқңөұүһі')).length")
    assert loaded >= 1, "the site's own font must carry the Kazakh letters"

    page.fill("#id_first_name", "Ұлжан")
    page.fill("#id_last_name", "Қасымова")
    page.fill("#id_email", "ulzhan@example.org")
    page.fill("#id_city", "Grenoble")
    page.fill("#id_organisation", "Solidaires Isère")
    page.fill("#id_organisation_role", "co-secrétaire")
    page.fill("#id_personal_sentence", "Нас много, и мы не забудем.")
    page.check("#id_consent_list_organisation")
    assert not page.is_checked("#id_consent_send")
    page.check("#id_consent_send")
    page.get_by_role("button", name="Signer").click()
    page.wait_for_url("**/check-your-inbox/")

    confirmation = wait_until(lambda: smtp_sink.messages(), message="the confirmation e-mail")[0]
    page.goto(web_server + confirmation_path(confirmation))
    page.get_by_role("button").filter(has_text="Confirmer").click()
    page.wait_for_selector(".status-box.success")

    wait_until(lambda: any("paris@mfa.kz" in r.rcpt_tos for r in smtp_sink.received), message="the letter")
    letter = next(r for r in smtp_sink.received if "paris@mfa.kz" in r.rcpt_tos)
    assert sorted(letter.rcpt_tos) == ["chakmonro@ya.ru", "paris@mfa.kz"]
    # Answers come back through the campaign: the embassy never sees the supporter's address.
    assert letter.message["Reply-To"].addresses[0].addr_spec.startswith("courrier+r")
    assert b"ulzhan@example.org" not in letter.data
    body = body_text(letter.message)
    assert "Нас много, и мы не забудем." in body
    assert "Pour Solidaires Isère\nҰлжан Қасымова, co-secrétaire" in body
    assert "Grenoble, le " in body

    wait_until(lambda: Campaign.objects.get(pk=demo.pk).tally_letters == 1, message="the tally")
    load_until(
        page,
        web_server + "/fr/c/kazakhstan-repression/",
        lambda: page.locator(".counter-number").inner_text() == "1",
        message="the counter on the page",
    )
    assert page.locator(".org-list").inner_text() == "Solidaires Isère"
    assert page.hosts == {urlsplit(web_server).netloc}, "no request may leave for another host"
    assert page.failures == []
