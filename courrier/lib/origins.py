"""Origins a campaign may be embedded in: checked when an organiser types one and when the policy is built."""

import re

# scheme://host[:port], nothing else: a space, a semicolon or a comma would change the policy's meaning.
_ORIGIN = re.compile(
    r"^(?P<scheme>https?)://(?P<host>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*)"
    r"(?::(?P<port>[0-9]{1,5}))?$"
)
_LOCAL_HOSTS = ("localhost", "127.0.0.1")


def is_embed_origin(value: str) -> bool:
    """Whether `value` is an origin that may frame the form: https://host[:port] (http only on this machine)."""
    match = _ORIGIN.match(value.lower())
    if not match:
        return False
    if match["port"] and not 0 < int(match["port"]) < 65536:
        return False
    return match["scheme"] == "https" or match["host"] in _LOCAL_HOSTS
