"""The team in the studio: an invitation by e-mail that works once, roles, removal, the audit log."""

import re

import pytest
from django.test import Client

from courrier.accounts.models import AuditEntry, Invitation, Membership
from courrier.delivery.models import OutboxMessage
from tests.factories import live_campaign, new_organisation, organiser

pytestmark = pytest.mark.django_db


@pytest.fixture
def group():
    return new_organisation("Gauche révolutionnaire")


@pytest.fixture
def manager(group):
    return organiser("camille", group, role=Membership.Role.MANAGER, email="camille@group.example")


def invite(manager, group, email="nurlan@union.example", role="editor") -> str:
    """Invite `email`; returns the path of the link the e-mail carries."""
    manager.post(f"/fr/studio/team/{group.pk}/", {"email": email, "role": role})
    [message] = [m for m in OutboxMessage.objects.filter(kind=OutboxMessage.Kind.INVITATION) if m.to == [email]]
    return re.search(r"https?://[^/\s]+(/fr/studio/join/[^/\s]+/)", message.body).group(1)


def test_an_invited_editor_joins_once_sets_up_the_second_factor_and_sees_no_supporter_data(manager, group):
    campaign = live_campaign("ours", organisation=group)
    link = invite(manager, group)
    message = OutboxMessage.objects.get(kind=OutboxMessage.Kind.INVITATION)
    assert message.sandbox and "Gauche révolutionnaire" in message.subject
    # Only the token's digest is kept.
    assert link.split("/")[-2] not in str(list(Invitation.objects.values()))
    newcomer = Client()
    page = newcomer.get(link).content.decode()
    assert "Rejoindre l’équipe de Gauche révolutionnaire" in page
    weak = newcomer.post(link, {"username": "nurlan", "password": "123", "password_again": "123"})
    assert weak.status_code == 200 and not Membership.objects.filter(user__username="nurlan").exists()
    strong = "un mot de passe assez long"
    joined = newcomer.post(link, {"username": "nurlan", "password": strong, "password_again": strong})
    assert joined["Location"].startswith("/fr/studio/second-factor/set-up/")
    membership = Membership.objects.get(user__username="nurlan")
    assert (membership.organisation, membership.role, membership.user.email) == (
        group,
        "editor",
        "nurlan@union.example",
    )
    assert Client().get(link).status_code == 404  # used: it works once
    from tests.conftest import pass_second_factor

    pass_second_factor(newcomer, membership.user)
    assert newcomer.get(f"/fr/studio/c/{campaign.pk}/").status_code == 200
    assert newcomer.get(f"/fr/studio/c/{campaign.pk}/progress/").status_code == 403
    assert AuditEntry.objects.filter(action="team_change").count() == 2  # invited, joined


def test_a_withdrawn_or_unknown_link_says_the_same_thing(manager, group):
    link = invite(manager, group)
    invitation = Invitation.objects.get()
    manager.post(f"/fr/studio/team/{group.pk}/invitation/{invitation.pk}/")
    for path in (link, "/fr/studio/join/made-up-token/", "/fr/studio/join/" + "x" * 300 + "/"):
        answer = Client().get(path)
        assert answer.status_code == 404 and "Ce lien ne fonctionne plus" in answer.content.decode()


def test_roles_change_and_the_last_manager_stays(manager, group):
    mine = Membership.objects.get(user__username="camille")
    refused = manager.post(f"/fr/studio/team/{group.pk}/member/{mine.pk}/", {"action": "remove"}, follow=True)
    assert "au moins un responsable" in refused.content.decode()
    other = organiser("eli", group, role="editor", email="eli@group.example")
    theirs = Membership.objects.get(user__username="eli")
    manager.post(f"/fr/studio/team/{group.pk}/member/{theirs.pk}/", {"action": "manager"})
    theirs.refresh_from_db()
    assert theirs.role == "manager"
    manager.post(f"/fr/studio/team/{group.pk}/member/{mine.pk}/", {"action": "remove"})
    assert not Membership.objects.filter(pk=mine.pk).exists()
    assert other.get(f"/fr/studio/team/{group.pk}/audit/").status_code == 200


def test_another_organisations_team_is_not_found_and_an_editors_is_refused(manager, group):
    outsider = organiser("other", new_organisation("Other group"), email="other@other.example")
    editor = organiser("eli", group, role="editor", email="eli@group.example")
    mine = Membership.objects.get(user__username="camille")
    for path in (f"/fr/studio/team/{group.pk}/", f"/fr/studio/team/{group.pk}/audit/"):
        assert outsider.get(path).status_code == 404 and editor.get(path).status_code == 403
    assert outsider.post(f"/fr/studio/team/{group.pk}/member/{mine.pk}/", {"action": "remove"}).status_code == 404
    assert editor.post(f"/fr/studio/team/{group.pk}/member/{mine.pk}/", {"action": "editor"}).status_code == 403
    assert outsider.post(f"/fr/studio/team/{group.pk}/", {"email": "x@y.example", "role": "manager"}).status_code == 404
    assert not Invitation.objects.exists()
