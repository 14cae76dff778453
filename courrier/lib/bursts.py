"""Bursts of signatures from one network, quarantined silently.

Signatures are counted per network (IPv4 /24, IPv6 /48: one household, office or
mobile operator's block; an attacker's addresses usually share one) in a fixed
window kept in the cache, keyed by an HMAC of the network (ratelimit.count_hit),
so no address is stored and the counters vanish with their window.

Beyond the allowance, a signature is still written, in the same INSERT, with
moderation=BURST: it gets its confirmation e-mail like any other, but its letter
waits, uncounted and unlisted, until a moderator approves it (Signatures → Letters
held for review). The supporter sees exactly the normal answer, so a flooder
learns nothing, and a union meeting signing on one wifi loses no letter.

Two allowances: SIGNING_BURST for signatures with a proof of work, and the lower
SIGNING_BURST_UNPROVEN for those without (a browser without JavaScript; or a bot
that does not solve the challenge), which also count in the first.
"""

from django.conf import settings
from django.http import HttpRequest
from django.utils import translation
from django.utils.translation import gettext as _

from courrier.lib import ratelimit
from courrier.lib.ratelimit import client_address, count_hit, parse_rate

RULE = "burst"  # as the audit log names the quarantine (signatures/moderation.py RULE_NAMES)


def network_of(address: str) -> str:
    """The network an address belongs to for flood counting: its /24 (IPv4) or /48 (IPv6)."""
    return ratelimit.network_of(address, ipv4_prefix=24, ipv6_prefix=48)


def is_burst(request: HttpRequest, proven: bool) -> bool:
    """Count this signature for its network, and say whether it goes beyond the network's allowance."""
    network = network_of(client_address(request))
    limit, window = parse_rate(settings.SIGNING_BURST)
    over = count_hit("burst", network, window) > limit
    if not proven:
        limit, window = parse_rate(settings.SIGNING_BURST_UNPROVEN)
        over = count_hit("burst-unproven", network, window) > limit or over
    return over


def reason(proven: bool) -> str:
    """Why the moderator sees it, in the site's language like the other moderation reasons."""
    with translation.override(settings.LANGUAGE_CODE):
        if proven:
            return _("burst: many signatures from one network in a short time")
        return _("burst: many signatures from one network in a short time, without the browser check")
