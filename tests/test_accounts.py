"""Organisations and people: each organiser sees only their organisations, staff need a second factor,
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
        user = User.objects.create_user(username, password=PASSWORD, is_staff=True)
        Membership.objects.create(user=user, organisation=organisation, role=role)
        return user


@pytest.fixture
def world(own_campaign) -> World:
    return World(own_campaign)


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)  # the second factor is passed too (tests/conftest.py)
    return client


# Organisations: who sees what.


def test_each_organiser_sees_only_their_organisations_campaigns_and_supporters(world):
    for user, mine, theirs in [
        (world.manager_a, world.campaign_a, world.campaign_b),
        (world.manager_b, world.campaign_b, world.campaign_a),
    ]:
        client = logged_in(user)
        campaigns = client.get("/admin/campaigns/campaign/").content.decode()
        assert mine.title in campaigns and theirs.title not in campaigns
        signatures = client.get("/admin/signatures/signature/").content.decode()
        assert mine.signatures.get().last_name in signatures
        assert theirs.signatures.get().last_name not in signatures
        assert theirs.title not in signatures, "the campaign filter names only the organiser's campaigns"
        outbox = client.get("/admin/delivery/outboxmessage/").content.decode()
        assert mine.title in outbox and theirs.title not in outbox
        assert client.get(f"/admin/delivery/outboxmessage/{mine.outbox.get().pk}/change/").status_code == 200
        targets = client.get("/admin/campaigns/target/").content.decode()
        assert all(target.email in targets for target in mine.targets.all())
        assert not any(target.email in targets for target in theirs.targets.all())


def test_another_organisations_objects_are_not_found_by_their_address(world):
    client = logged_in(world.manager_a)
    for url in [
        f"/admin/campaigns/campaign/{world.campaign_b.pk}/change/",
        f"/admin/campaigns/campaign/{world.campaign_b.pk}/delete/",
        f"/admin/campaigns/campaign/{world.campaign_b.pk}/history/",
        f"/admin/campaigns/target/{world.target_b.pk}/change/",
        f"/admin/accounts/organisation/{world.org_b.pk}/change/",
        f"/admin/signatures/signature/{world.signature_b.pk}/change/",
        f"/admin/delivery/outboxmessage/{world.letter_b.pk}/change/",
    ]:
        assert client.get(url).status_code in (403, 404), url

    data = admin_form(logged_in(world.manager_b), f"/admin/campaigns/target/{world.target_b.pk}/change/")
    response = client.post(f"/admin/campaigns/target/{world.target_b.pk}/change/", {**data, "email": "x@evil.test"})
    assert response.status_code == 404
    world.target_b.refresh_from_db()
    assert world.target_b.email == "akimat@example.kz"
    # Actions ignore rows outside the organiser's reach, even when their ids are posted.
    client.post("/admin/campaigns/target/", {"action": "pause", "_selected_action": [world.target_b.pk]})
    world.target_b.refresh_from_db()
    assert not world.target_b.is_paused


def test_an_editor_writes_the_campaign_but_never_sees_supporters(world):
    client = logged_in(world.editor_a)
    assert client.get("/admin/signatures/signature/").status_code == 403
    assert client.get(f"/admin/signatures/signature/{world.signature_a.pk}/change/").status_code in (403, 404)
    assert client.get("/admin/delivery/outboxmessage/").status_code == 403
    assert client.get(f"/admin/delivery/outboxmessage/{world.letter_a.pk}/change/").status_code in (403, 404)
    assert client.get("/admin/sandbox/").status_code == 403
    index = client.get("/admin/").content.decode()
    assert "/admin/campaigns/campaign/" in index
    assert "/admin/signatures/signature/" not in index and "/admin/delivery/outboxmessage/" not in index

    # The campaign is theirs to write, but going live and real mail are the managers' decisions.
    url = f"/admin/campaigns/campaign/{world.campaign_a.pk}/change/"
    Campaign.objects.filter(pk=world.campaign_a.pk).update(status=Campaign.Status.DRAFT)
    data = admin_form(client, url)
    assert "status" not in data and "real_delivery" not in data
    response = client.post(url, {**data, "title": "Libérez-les", "status": "live", "real_delivery": "on"})
    assert response.status_code == 302
    world.campaign_a.refresh_from_db()
    assert world.campaign_a.title == "Libérez-les"
    assert world.campaign_a.status == Campaign.Status.DRAFT and not world.campaign_a.real_delivery
    assert client.get(f"/admin/campaigns/campaign/{world.campaign_a.pk}/delete/").status_code == 403


def test_choices_offer_only_the_organisers_own_campaigns_and_organisations(world):
    client = logged_in(world.manager_a)
    add_target = client.get("/admin/campaigns/target/add/").content.decode()
    assert world.campaign_a.title in add_target and world.campaign_b.title not in add_target
    add_campaign = client.get("/admin/campaigns/campaign/add/").content.decode()
    assert world.org_a.name in add_campaign and world.org_b.name not in add_campaign

    response = client.post(
        "/admin/campaigns/target/add/",
        {
            "campaign": world.campaign_b.pk,
            "role": "to",
            "name": "Planted",
            "email": "planted@evil.test",
            "delivery_mode": "each",
            "digest_period_hours": 24,
            "pace_per_hour": 30,
            "timezone": "Europe/Paris",
            "office_opens": 9,
            "office_closes": 18,
        },
    )
    assert response.status_code == 200 and "campaign" in response.context["adminform"].form.errors
    assert not Target.objects.filter(email="planted@evil.test").exists()


def test_view_on_site_leads_only_to_the_users_own_organisations_objects(world):
    """Django's shortcut would redirect any staff account to another organisation's draft, naming its slug."""
    from django.contrib.contenttypes.models import ContentType

    campaign_type = ContentType.objects.get_for_model(Campaign).pk
    draft_b = f"/admin/r/{campaign_type}/{world.campaign_b.pk}/"
    assert world.campaign_b.status == Campaign.Status.DRAFT
    nobody = User.objects.create_user("staff-without-membership", password=PASSWORD, is_staff=True)

    for user in (nobody, world.editor_a, world.manager_a):
        response = logged_in(user).get(draft_b)
        assert response.status_code == 404, user
        assert world.campaign_b.slug not in response.get("Location", "") + response.content.decode()
    assert logged_in(world.manager_b).get(draft_b)["Location"].endswith(f"/c/{world.campaign_b.slug}/")
    own = logged_in(world.editor_a).get(f"/admin/r/{campaign_type}/{world.campaign_a.pk}/")
    assert own.status_code == 302 and own["Location"].endswith(f"/c/{world.campaign_a.slug}/")
    user_type = ContentType.objects.get_for_model(User).pk
    assert logged_in(world.manager_a).get(f"/admin/r/{user_type}/{world.manager_b.pk}/").status_code == 404
    assert logged_in(world.manager_a).get(f"/admin/r/{campaign_type}/not-a-number/").status_code == 404
    assert logged_in(world.manager_a).get(f"/admin/r/999999/{world.campaign_a.pk}/").status_code == 404


def test_staff_without_a_membership_see_nothing_and_superusers_see_everything(world):
    nobody = User.objects.create_user("nobody", password=PASSWORD, is_staff=True)
    client = logged_in(nobody)
    assert client.get("/admin/campaigns/campaign/").status_code == 403
    assert "/admin/campaigns/" not in client.get("/admin/").content.decode()

    root = logged_in(User.objects.create_superuser("root", password=PASSWORD))
    campaigns = root.get("/admin/campaigns/campaign/").content.decode()
    assert world.campaign_a.title in campaigns and world.campaign_b.title in campaigns
    assert root.get("/admin/sandbox/").status_code == 200


def test_only_superusers_decide_who_belongs_to_which_organisation(world):
    manager = logged_in(world.manager_a)
    assert manager.get("/admin/auth/user/").status_code == 403
    organisation_page = manager.get(f"/admin/accounts/organisation/{world.org_a.pk}/change/").content.decode()
    assert "memberships-" not in organisation_page
    assert manager.get("/admin/accounts/organisation/add/").status_code == 403

    root = logged_in(User.objects.create_superuser("root", password=PASSWORD))
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
    response = log_in(client, "manager-a")
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
    assert not TOTPDevice.objects.get(user=world.manager_a).is_confirmed
    assert client.get("/admin/campaigns/campaign/").status_code == 302

    accepted = client.post(setup_url, {"code": totp.totp(secret)})
    assert accepted.status_code == 302 and accepted["Location"] == "/admin/campaigns/campaign/"
    assert world.campaign_a.title in client.get("/admin/campaigns/campaign/").content.decode()
    assert AuditEntry.objects.filter(action="totp_setup", username="manager-a").exists()


def test_every_later_login_asks_for_a_fresh_code(world):
    client = Client()
    secret = secret_shown(log_in(client, "manager-a").content.decode())
    first_code = totp.totp(secret)
    client.post("/admin/second-factor/setup/", {"code": first_code})
    client.post("/admin/logout/")

    again = log_in(client, "manager-a")
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
    secret = secret_shown(log_in(client, "manager-a").content.decode()).replace(" ", "")
    client.post("/admin/second-factor/setup/", {"code": totp.totp(secret)})
    device = TOTPDevice.objects.get(user=world.manager_a)

    stored = raw_row(TOTPDevice, device.pk, ["secret"])["secret"]
    assert stored.startswith("enc1:") and secret not in stored
    assert secret not in sql_dump()
    assert device.secret == secret
    client.post("/admin/logout/")
    log_in(client, "manager-a")
    next_code = totp.totp(secret, at=time.time() + totp.STEP_SECONDS)
    accepted = client.post("/admin/second-factor/", {"code": next_code, "next": "/admin/campaigns/campaign/"})
    assert accepted["Location"] == "/admin/campaigns/campaign/"


def test_the_next_address_stays_on_this_site(world):
    client = Client()
    secret = secret_shown(log_in(client, "manager-a").content.decode())
    response = client.post("/admin/second-factor/setup/", {"code": totp.totp(secret), "next": "https://evil.test/"})
    assert response["Location"] == "/admin/"


def test_resettotp_removes_a_lost_phone_and_the_sessions_verified_with_it(world, capsys):
    client = logged_in(world.manager_a)
    assert client.get("/admin/campaigns/campaign/").status_code == 200
    call_command("resettotp", "manager-a")
    assert "manager-a" in capsys.readouterr().out
    assert not TOTPDevice.objects.filter(user=world.manager_a).exists()
    assert client.get("/admin/campaigns/campaign/")["Location"].startswith("/admin/second-factor/setup/")
    entry = AuditEntry.objects.get(action="totp_reset")
    assert entry.object_id == str(world.manager_a.pk)
    with pytest.raises(CommandError):
        call_command("resettotp", "nobody-by-that-name")


# Lockout.


def login_errors(response) -> list[str]:
    return [error.code for error in response.context["form"].non_field_errors().as_data()]


def test_five_failures_lock_a_username_even_with_the_right_password_then_it_is_released(world):
    client = Client()
    for _attempt in range(4):
        assert login_errors(log_in(client, "manager-a", "wrong password", follow=False)) == ["invalid_login"]
    assert login_errors(log_in(client, "Manager-A", "wrong password", follow=False)) == ["locked"]
    refused = log_in(client, "manager-a", PASSWORD, follow=False)
    assert refused.status_code == 200 and login_errors(refused) == ["locked"]
    assert "_auth_user_id" not in client.session
    assert AuditEntry.objects.filter(action="login_lockout", object_id=str(world.manager_a.pk)).count() == 1
    throttle = LoginThrottle.objects.get()
    assert throttle.key == username_key("manager-a") and "manager" not in throttle.key

    LoginThrottle.objects.update(locked_until=timezone.now() - datetime.timedelta(seconds=1))
    assert log_in(client, "manager-a", PASSWORD, follow=False).status_code == 302
    assert not LoginThrottle.objects.exists(), "a successful login forgets the failures"


def test_failures_older_than_the_window_do_not_count(world):
    client = Client()
    for _attempt in range(4):
        log_in(client, "manager-a", "wrong password", follow=False)
    LoginThrottle.objects.update(first_failure_at=timezone.now() - datetime.timedelta(minutes=16))
    assert login_errors(log_in(client, "manager-a", "wrong password", follow=False)) == ["invalid_login"]
    assert log_in(client, "manager-a", PASSWORD, follow=False).status_code == 302


def test_wrong_codes_count_as_failures_and_end_the_session(world):
    client = logged_in(world.manager_a)
    client.post("/admin/logout/")
    log_in(client, "manager-a")
    wrong = a_wrong_code(TOTPDevice.objects.get(user=world.manager_a).secret)
    for _attempt in range(4):
        assert client.post("/admin/second-factor/", {"code": wrong}).status_code == 200
    response = client.post("/admin/second-factor/", {"code": wrong})
    assert response["Location"] == "/admin/login/"
    assert "_auth_user_id" not in client.session
    assert login_errors(log_in(client, "manager-a", PASSWORD, follow=False)) == ["locked"]


# The audit log.


def test_target_changes_deletions_and_going_live_are_written_to_the_audit_log(world):
    client = logged_in(world.manager_a)
    target = world.campaign_a.targets.first()
    url = f"/admin/campaigns/target/{target.pk}/change/"
    client.post(url, {**admin_form(client, url), "email": "new-address@ministry.example"})
    change = AuditEntry.objects.get(action="target_change")
    assert (change.username, change.organisation, change.object_type) == ("manager-a", world.org_a, "campaigns.target")
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
    log_a = logged_in(world.manager_a).get("/admin/accounts/auditentry/").content.decode()
    assert "csv for A" in log_a and "csv for B" not in log_a
    assert logged_in(world.editor_a).get("/admin/accounts/auditentry/").status_code == 403


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


def test_a_manager_reads_only_their_own_campaigns_mail_in_the_sandbox(world, sandbox_in_tmp):
    from courrier.delivery.worker import Worker

    worker = Worker()
    while worker.run_once():
        pass
    root = logged_in(User.objects.create_superuser("root", password=PASSWORD))
    everything = root.get("/admin/sandbox/").content.decode()
    assert everything.count("/admin/sandbox/") >= 2

    manager = logged_in(world.manager_a)
    listing = manager.get("/admin/sandbox/")
    assert listing.status_code == 200
    keys = [row["key"] for row in listing.context["rows"]]
    assert len(keys) == 1
    assert "aigerim@example.org" in manager.get(f"/admin/sandbox/{keys[0]}/").content.decode()
    other = [row["key"] for row in root.get("/admin/sandbox/").context["rows"] if row["key"] not in keys]
    assert other and all(manager.get(f"/admin/sandbox/{key}/").status_code == 404 for key in other)
    assert logged_in(world.editor_a).get("/admin/sandbox/").status_code == 403
