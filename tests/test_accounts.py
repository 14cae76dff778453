"""Organisations and people: each organiser sees only their organisations (in the studio: the admin is the
operators'), staff need a second factor,
repeated failed logins lock a username, and the audit log records what matters and cannot be rewritten."""

import base64
import datetime
import re
import time

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from courrier.accounts import totp
from courrier.accounts.lockout import username_key
from courrier.accounts.models import AppendOnlyError, AuditEntry, LoginThrottle, Membership, Organisation, TOTPDevice
from courrier.campaigns.models import Campaign, ModelLetter, Person, Target
from courrier.delivery.models import OutboxMessage
from courrier.signatures.models import Signature
from tests.helpers import admin_form, raw_row, sql_dump

pytestmark = pytest.mark.django_db

PASSWORD = "a long test password"


class World:
    """Two organisations with a campaign each, with targets, a supporter and a letter in the outbox."""

    def __init__(self, campaign_a: Campaign):
        self.campaign_a = campaign_a
        self.org_a = campaign_a.organisation
        self.org_b = Organisation.objects.create(name="Союз солидарности")
        self.campaign_b = Campaign.objects.create(
            organisation=self.org_b,
            slug="other-campaign",
            title="Free the dockers of Aktau",
            summary="Another group's campaign.",
        )
        ModelLetter.objects.create(campaign=self.campaign_b, language="fr", subject="Lettre", body="{signature}")
        self.target_b = Target.objects.create(campaign=self.campaign_b, name="Akimat", email="akimat@example.kz")
        self.signature_a = self.supporter(self.campaign_a, "aigerim@example.org")
        self.signature_b = self.supporter(self.campaign_b, "bolat@example.org")
        self.letter_a = self.letter(self.signature_a)
        self.letter_b = self.letter(self.signature_b)
        self.editor_a = self.organiser("editor-a", self.org_a, Membership.Role.EDITOR)
        self.manager_a = self.organiser("manager-a", self.org_a, Membership.Role.MANAGER)
        self.manager_b = self.organiser("manager-b", self.org_b, Membership.Role.MANAGER)
        self.operator = User.objects.create_superuser("operator", password=PASSWORD)  # the admin is theirs

    @staticmethod
    def supporter(campaign: Campaign, email: str) -> Signature:
        return Signature.objects.create(
            campaign=campaign,
            first_name="Supporter",
            last_name=email.split("@")[0],
            email=email,
            language="fr",
            letter_language="fr",
            consent_send=True,
        )

    @staticmethod
    def letter(signature: Signature) -> OutboxMessage:
        return OutboxMessage.objects.create(
            kind=OutboxMessage.Kind.LETTER,
            campaign=signature.campaign,
            signature=signature,
            message_id=f"<letter-{signature.pk}@example.org>",
            from_name="Supporter via Courrier",
            from_email="courrier@example.org",
            envelope_from="bounces@example.org",
            to=["target@example.org"],
            subject="Letter",
            body=f"Signed by {signature.email}",
        )

    @staticmethod
    def organiser(username: str, organisation: Organisation, role: str) -> User:
        user = User.objects.create_user(username, f"{username}@organisers.example", PASSWORD, is_staff=True)
        Membership.objects.create(user=user, organisation=organisation, role=role)
        return user


@pytest.fixture
def world(own_campaign) -> World:
    return World(own_campaign)


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)  # the second factor is passed too (tests/conftest.py)
    return client


# Organisations: who sees what. The admin is the operators'; organisers are in the studio.

ADMIN_PAGES = [
    "/admin/",
    "/admin/campaigns/campaign/",
    "/admin/campaigns/campaign/{campaign}/change/",
    "/admin/campaigns/target/",
    "/admin/signatures/signature/",
    "/admin/signatures/signature/{signature}/change/",
    "/admin/delivery/outboxmessage/",
    "/admin/accounts/auditentry/",
    "/admin/auth/user/",
    "/admin/sandbox/",
    "/admin/campaigns/campaign/{campaign}/progress/",
    "/admin/campaigns/campaign/{campaign}/export.csv",
]


def test_every_admin_page_sends_an_organiser_to_the_studio_and_shows_them_nothing(world):
    nobody = User.objects.create_user("staff-without-membership", "lost@organisers.example", PASSWORD, is_staff=True)
    for user in (world.editor_a, world.manager_a, nobody):
        client = logged_in(user)
        for pattern in ADMIN_PAGES:
            url = pattern.format(campaign=world.campaign_a.pk, signature=world.signature_a.pk)
            response = client.get(url, follow=True)
            assert response.redirect_chain[-1][0] == "/fr/studio/", (user, url)
            page = response.content.decode()
            assert world.signature_a.last_name not in page and world.campaign_b.title not in page, (user, url)
    # Nor does posting to it do anything: an action on another organisation's target, or on one's own.
    for target in (world.target_b, world.campaign_a.targets.first()):
        logged_in(world.manager_a).post(
            "/admin/campaigns/target/", {"action": "pause", "_selected_action": [target.pk]}
        )
        target.refresh_from_db()
        assert not target.is_paused


def test_the_admins_login_turns_an_organiser_to_the_studio_without_counting_a_failure(world):
    client = Client()
    for _attempt in range(6):
        refused = log_in(client, "manager-a", follow=False)
        assert refused.status_code == 200 and login_errors(refused) == ["organiser"]
    assert "/fr/studio/sign-in/" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    assert not LoginThrottle.objects.exists(), "a right password is not a failure"
    assert Client().post("/fr/studio/sign-in/", {"username": "manager-a", "password": PASSWORD}).status_code == 302


def test_in_the_studio_each_organiser_sees_only_their_organisations_campaigns(world):
    for user, mine, theirs in [
        (world.manager_a, world.campaign_a, world.campaign_b),
        (world.manager_b, world.campaign_b, world.campaign_a),
    ]:
        client = logged_in(user)
        home = client.get("/fr/studio/").content.decode()
        assert mine.title in home and theirs.title not in home
        new = client.get("/fr/studio/new/").content.decode()
        assert mine.title in new and theirs.title not in new, "a campaign to copy is one of one's own"
        assert theirs.organisation.name not in new
        assert client.get(f"/fr/studio/c/{theirs.pk}/").status_code == 404
        assert client.get(f"/fr/studio/team/{theirs.organisation_id}/").status_code == 404

    # A new campaign cannot be planted in another organisation by posting its id.
    response = logged_in(world.manager_a).post(
        "/fr/studio/new/", {"way": "blank", "blank-organisation": world.org_b.pk, "blank-title": "Planted"}
    )
    assert response.status_code == 200 and not Campaign.objects.filter(title="Planted").exists()


def test_staff_without_a_membership_see_nothing_in_the_studio(world):
    client = logged_in(User.objects.create_user("nobody", "nobody@organisers.example", PASSWORD, is_staff=True))
    home = client.get("/fr/studio/").content.decode()
    assert world.campaign_a.title not in home and world.campaign_b.title not in home
    assert client.get(f"/fr/studio/c/{world.campaign_a.pk}/").status_code == 404
    assert client.get("/fr/studio/mailbox/").status_code == 403


def test_superusers_see_everything_and_alone_decide_who_belongs_to_which_organisation(world):
    root = logged_in(User.objects.create_superuser("root", password=PASSWORD))
    campaigns = root.get("/admin/campaigns/campaign/").content.decode()
    assert world.campaign_a.title in campaigns and world.campaign_b.title in campaigns
    assert root.get("/admin/sandbox/").status_code == 200
    assert "memberships-0-role" in root.get(f"/admin/auth/user/{world.manager_a.pk}/change/").content.decode()
    assert "memberships-0-role" in root.get(f"/admin/accounts/organisation/{world.org_a.pk}/change/").content.decode()


# The second factor.


def secret_shown(page: str) -> str:
    match = re.search(r'<code class="second-factor-secret[^"]*">([A-Z2-7 ]+)</code>', page)
    assert match, page
    return match.group(1)


def a_wrong_code(secret: str) -> str:
    return next(code for code in ("000000", "111111", "222222") if totp.matching_step(secret, code) is None)


def log_in(client: Client, username: str, password: str = PASSWORD, follow: bool = True):
    return client.post(
        "/admin/login/?next=/admin/campaigns/campaign/",
        {"username": username, "password": password, "next": "/admin/campaigns/campaign/"},
        follow=follow,
    )


def test_rfc_6238_test_vectors_for_sha1():
    secret = base64.b32encode(b"12345678901234567890").decode()
    vectors = {
        59: "94287082",
        1111111109: "07081804",
        1111111111: "14050471",
        1234567890: "89005924",
        2000000000: "69279037",
        20000000000: "65353130",
    }
    for at, code in vectors.items():
        assert totp.totp(secret, at=at, digits=8) == code
    # And the six-digit codes apps show are the same number's last digits (RFC 4226 appendix D, counter 1).
    assert totp.hotp(b"12345678901234567890", 1) == "287082"


def test_a_code_is_accepted_one_step_either_side_and_never_twice():
    secret = totp.generate_secret()
    now = 1_700_000_000
    step = totp.time_step(now)
    for drift in (-1, 0, 1):
        code = totp.totp(secret, at=now + drift * totp.STEP_SECONDS)
        assert totp.matching_step(secret, code, at=now) == step + drift
    assert totp.matching_step(secret, totp.totp(secret, at=now - 2 * totp.STEP_SECONDS), at=now) is None
    code = totp.totp(secret, at=now)
    assert totp.matching_step(secret, code, last_used_step=step, at=now) is None
    assert totp.is_replayed(secret, code, step, at=now)
    assert totp.matching_step(secret, "12345", at=now) is None and totp.matching_step(secret, "abcdef", at=now) is None


def test_the_first_login_sets_up_the_second_factor_before_any_admin_page(world):
    client = Client()
    response = log_in(client, "operator")
    assert response.redirect_chain[-1][0].startswith("/admin/second-factor/setup/")
    page = response.content.decode()
    assert "<svg" in page and 'class="segno"' in page  # the QR code, drawn by the site
    secret = secret_shown(page)
    setup_url = response.redirect_chain[-1][0]
    # Every admin page waits for the second factor, personal data or not.
    for url in ["/admin/", "/admin/campaigns/campaign/", f"/admin/signatures/signature/{world.signature_a.pk}/change/"]:
        assert client.get(url)["Location"].startswith("/admin/second-factor/setup/"), url

    wrong = client.post(setup_url, {"code": a_wrong_code(secret)})
    assert wrong.status_code == 200 and wrong.context["form"].errors["code"]
    assert not TOTPDevice.objects.get(user=world.operator).is_confirmed
    assert client.get("/admin/campaigns/campaign/").status_code == 302

    accepted = client.post(setup_url, {"code": totp.totp(secret)})
    assert accepted.status_code == 302 and accepted["Location"] == "/admin/campaigns/campaign/"
    assert world.campaign_a.title in client.get("/admin/campaigns/campaign/").content.decode()
    assert AuditEntry.objects.filter(action="totp_setup", username="operator").exists()


def test_every_later_login_asks_for_a_fresh_code(world):
    client = Client()
    secret = secret_shown(log_in(client, "operator").content.decode())
    first_code = totp.totp(secret)
    client.post("/admin/second-factor/setup/", {"code": first_code})
    client.post("/admin/logout/")

    again = log_in(client, "operator")
    assert again.redirect_chain[-1][0].startswith("/admin/second-factor/?")
    assert secret.replace(" ", "") not in again.content.decode().replace(" ", ""), "the secret is never shown again"
    assert client.get("/admin/second-factor/setup/")["Location"].startswith("/admin/second-factor/")

    replayed = client.post("/admin/second-factor/", {"code": first_code, "next": "/admin/campaigns/campaign/"})
    assert replayed.status_code == 200 and replayed.context["form"].errors["code"]
    assert client.get("/admin/campaigns/campaign/").status_code == 302

    next_code = totp.totp(secret, at=time.time() + totp.STEP_SECONDS)
    accepted = client.post("/admin/second-factor/", {"code": next_code, "next": "/admin/campaigns/campaign/"})
    assert accepted["Location"] == "/admin/campaigns/campaign/"
    assert client.get("/admin/campaigns/campaign/").status_code == 200


def test_the_second_factors_secret_is_stored_encrypted_and_still_checks_codes(world):
    """A dump of the database plus a cracked password must not give the codes too."""
    client = Client()
    secret = secret_shown(log_in(client, "operator").content.decode()).replace(" ", "")
    client.post("/admin/second-factor/setup/", {"code": totp.totp(secret)})
    device = TOTPDevice.objects.get(user=world.operator)

    stored = raw_row(TOTPDevice, device.pk, ["secret"])["secret"]
    assert stored.startswith("enc1:") and secret not in stored
    assert secret not in sql_dump()
    assert device.secret == secret
    client.post("/admin/logout/")
    log_in(client, "operator")
    next_code = totp.totp(secret, at=time.time() + totp.STEP_SECONDS)
    accepted = client.post("/admin/second-factor/", {"code": next_code, "next": "/admin/campaigns/campaign/"})
    assert accepted["Location"] == "/admin/campaigns/campaign/"


def test_the_next_address_stays_on_this_site(world):
    client = Client()
    secret = secret_shown(log_in(client, "operator").content.decode())
    response = client.post("/admin/second-factor/setup/", {"code": totp.totp(secret), "next": "https://evil.test/"})
    assert response["Location"] == "/admin/"


def test_resettotp_removes_a_lost_phone_and_the_sessions_verified_with_it(world, capsys):
    client = logged_in(world.operator)
    assert client.get("/admin/campaigns/campaign/").status_code == 200
    call_command("resettotp", "operator")
    assert "operator" in capsys.readouterr().out
    assert not TOTPDevice.objects.filter(user=world.operator).exists()
    assert client.get("/admin/campaigns/campaign/")["Location"].startswith("/admin/second-factor/setup/")
    entry = AuditEntry.objects.get(action="totp_reset")
    assert entry.object_id == str(world.operator.pk)
    with pytest.raises(CommandError):
        call_command("resettotp", "nobody-by-that-name")


# Lockout.


def login_errors(response) -> list[str]:
    return [error.code for error in response.context["form"].non_field_errors().as_data()]


def test_five_failures_lock_a_username_even_with_the_right_password_then_it_is_released(world):
    client = Client()
    for _attempt in range(4):
        assert login_errors(log_in(client, "operator", "wrong password", follow=False)) == ["invalid_login"]
    assert login_errors(log_in(client, "Operator", "wrong password", follow=False)) == ["locked"]
    refused = log_in(client, "operator", PASSWORD, follow=False)
    assert refused.status_code == 200 and login_errors(refused) == ["locked"]
    assert "_auth_user_id" not in client.session
    assert AuditEntry.objects.filter(action="login_lockout", object_id=str(world.operator.pk)).count() == 1
    throttle = LoginThrottle.objects.get()
    assert throttle.key == username_key("operator") and "manager" not in throttle.key

    LoginThrottle.objects.update(locked_until=timezone.now() - datetime.timedelta(seconds=1))
    assert log_in(client, "operator", PASSWORD, follow=False).status_code == 302
    assert not LoginThrottle.objects.exists(), "a successful login forgets the failures"


def test_failures_older_than_the_window_do_not_count(world):
    client = Client()
    for _attempt in range(4):
        log_in(client, "operator", "wrong password", follow=False)
    LoginThrottle.objects.update(first_failure_at=timezone.now() - datetime.timedelta(minutes=16))
    assert login_errors(log_in(client, "operator", "wrong password", follow=False)) == ["invalid_login"]
    assert log_in(client, "operator", PASSWORD, follow=False).status_code == 302


def test_wrong_codes_count_as_failures_and_end_the_session(world):
    client = logged_in(world.operator)
    client.post("/admin/logout/")
    log_in(client, "operator")
    wrong = a_wrong_code(TOTPDevice.objects.get(user=world.operator).secret)
    for _attempt in range(4):
        assert client.post("/admin/second-factor/", {"code": wrong}).status_code == 200
    response = client.post("/admin/second-factor/", {"code": wrong})
    assert response["Location"] == "/admin/login/"
    assert "_auth_user_id" not in client.session
    assert login_errors(log_in(client, "operator", PASSWORD, follow=False)) == ["locked"]


# The audit log.


def test_target_changes_deletions_and_going_live_are_written_to_the_audit_log(world):
    client = logged_in(world.operator)
    target = world.campaign_a.targets.first()
    url = f"/admin/campaigns/target/{target.pk}/change/"
    client.post(url, {**admin_form(client, url), "email": "new-address@ministry.example"})
    change = AuditEntry.objects.get(action="target_change")
    assert (change.username, change.organisation, change.object_type) == ("operator", world.org_a, "campaigns.target")
    assert change.object_id == str(target.pk) and "new-address@ministry.example" in change.summary

    # In the campaign's own form too, and going live in the same breath.
    Campaign.objects.filter(pk=world.campaign_a.pk).update(status=Campaign.Status.DRAFT)
    campaign_url = f"/admin/campaigns/campaign/{world.campaign_a.pk}/change/"
    data = admin_form(client, campaign_url)
    data["targets-0-pace_per_hour"] = "12"
    assert client.post(campaign_url, {**data, "status": "live"}).status_code == 302
    assert AuditEntry.objects.filter(action="target_change").count() == 2
    went_live = AuditEntry.objects.get(action="go_live")
    assert went_live.object_id == str(world.campaign_a.pk) and went_live.organisation == world.org_a

    person = Person.objects.create(campaign=world.campaign_a, name="Someone Else")
    client.post(f"/admin/campaigns/person/{person.pk}/delete/", {"post": "yes"})
    assert not Person.objects.filter(pk=person.pk).exists()
    deletion = AuditEntry.objects.get(action="deletion")
    assert deletion.object_id == str(person.pk) and "Someone Else" in deletion.summary

    client.post(f"/admin/campaigns/target/{target.pk}/delete/", {"post": "yes"})
    assert AuditEntry.objects.filter(action="target_change", object_id=str(target.pk)).count() == 3


def test_managers_read_their_organisations_audit_log_and_editors_do_not(world):
    from courrier.accounts import audit

    audit.record(world.manager_a, audit.EXPORT, world.campaign_a, summary="csv for A")
    audit.record(world.manager_b, audit.EXPORT, world.campaign_b, summary="csv for B")
    log_a = logged_in(world.manager_a).get(f"/fr/studio/team/{world.org_a.pk}/audit/").content.decode()
    assert "csv for A" in log_a and "csv for B" not in log_a
    assert logged_in(world.manager_a).get(f"/fr/studio/team/{world.org_b.pk}/audit/").status_code == 404
    assert logged_in(world.editor_a).get(f"/fr/studio/team/{world.org_a.pk}/audit/").status_code == 403
    everything = logged_in(world.operator).get("/admin/accounts/auditentry/").content.decode()
    assert "csv for A" in everything and "csv for B" in everything


def test_nobody_can_change_or_delete_an_audit_entry(world):
    from courrier.accounts import audit

    entry = audit.record(world.manager_a, audit.EXPORT, world.campaign_a, summary="csv, 2 rows")
    entry.summary = "nothing happened"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.update(summary="nothing happened")

    root = logged_in(User.objects.create_superuser("root", password=PASSWORD))
    assert root.get(f"/admin/accounts/auditentry/{entry.pk}/change/").status_code == 200  # to read
    assert root.post(f"/admin/accounts/auditentry/{entry.pk}/change/", {"summary": "x"}).status_code == 403
    assert root.post(f"/admin/accounts/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert root.get("/admin/accounts/auditentry/add/").status_code == 403
    root.post("/admin/accounts/auditentry/", {"action": "delete_selected", "_selected_action": [entry.pk]})
    assert AuditEntry.objects.get(pk=entry.pk).summary == "csv, 2 rows"

    # An account's deletion leaves its entries, with the name it had.
    world.manager_a.delete()
    entry = AuditEntry.objects.get(pk=entry.pk)
    assert entry.user is None and entry.username == "manager-a"


def test_a_manager_reads_only_their_own_campaigns_mail_in_the_test_mailbox(world, sandbox_in_tmp):
    from courrier.delivery.worker import Worker

    worker = Worker()
    while worker.run_once():
        pass
    root = logged_in(world.operator)
    everything = [row["key"] for row in root.get("/admin/sandbox/").context["rows"]]
    assert len(everything) >= 2

    manager = logged_in(world.manager_a)
    listing = manager.get("/fr/studio/mailbox/")
    assert listing.status_code == 200
    keys = [row["key"] for row in listing.context["rows"]]
    assert len(keys) == 1
    assert "aigerim@example.org" in manager.get(f"/fr/studio/mailbox/{keys[0]}/").content.decode()
    other = [key for key in everything if key not in keys]
    assert other and all(manager.get(f"/fr/studio/mailbox/{key}/").status_code == 404 for key in other)
    assert logged_in(world.editor_a).get("/fr/studio/mailbox/").status_code == 403
