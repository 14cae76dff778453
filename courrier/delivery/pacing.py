"""Pacing: how many letters a group of targets may receive now.

Each target has a slot clock (next_send_at) that advances by 3600/pace
seconds for every letter it receives, so letters are spread evenly and no
hour carries more than the target's pace. A letter to several targets takes
a slot from each, at the pace of the slowest. Targets that only read mail
during office hours get nothing outside them; paused targets get nothing.
"""

import datetime

from courrier.campaigns.models import Target

# After a quiet spell a group may catch up on this much time at once, no more:
# enough to keep up with fast paces between two polls, too little to burst.
CATCH_UP = datetime.timedelta(seconds=5)


def interval(target: Target) -> datetime.timedelta:
    return datetime.timedelta(seconds=3600 / target.pace_per_hour)


def slots_available(targets: list[Target], now: datetime.datetime, limit: int) -> int:
    """How many letters this group of targets may be sent at `now` (at most `limit`)."""
    if not targets or any(t.is_paused or not t.is_open_at(now) for t in targets):
        return 0
    slots = limit
    for target in targets:
        start = max(target.next_send_at or now - CATCH_UP, now - CATCH_UP)
        if start > now:
            return 0
        slots = min(slots, 1 + int((now - start) / interval(target)))
    return max(slots, 0)


def take_slots(targets: list[Target], now: datetime.datetime, count: int) -> list[Target]:
    """Advance each target's slot clock by `count` letters; returns the targets to save."""
    for target in targets:
        start = max(target.next_send_at or now - CATCH_UP, now - CATCH_UP)
        target.next_send_at = start + count * interval(target)
    return targets
