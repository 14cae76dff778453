"""Secrets out of logs: the token in a link, and every query string.

Confirmation, unsubscribe, follow-up and my-data links carry a token that is as good as
a password for one supporter's signature: whoever reads it in a log can
confirm, unsubscribe, or see and erase that person's data. Query strings can
carry anything a client typed. So every line this site logs, its own and
gunicorn's, goes through `redact_text` first.

Plain Python, no Django: gunicorn's master process imports it (gunicorn.conf.py)
before any Django setting exists.
"""

import ipaddress
import logging
import re

TOKEN = "[token]"  # noqa: S105 (a placeholder, not a password)
QUERY = "?[query]"

# The segment after one of these words is a secret: …/confirm/<token>/, …/news/unsubscribe/<token>/, …/my-data/<token>/,
# …/follow-up/<token>/ (it sends a letter in a supporter's name).
_SECRET_SEGMENT = re.compile(r"(/(?:confirm|unsubscribe|my-data|erase|follow-up)/)[^/\s?#\"'<>]+")
# Any path segment shaped like a Django signed value (payload:timestamp:signature), wherever a new link puts it.
_SIGNED_SEGMENT = re.compile(r"(?<=/)[A-Za-z0-9_\-]+:[A-Za-z0-9_\-:]+(?=[/\s?#\"'<>]|$)")
# A query string: from "?" to the end of the URL (a space, a quote, or the end of the text).
_QUERY_STRING = re.compile(r"\?[^\s\"'<>]+")


def redact_text(text: str) -> str:
    """`text` with every secret path segment, query string and IP address replaced by a placeholder."""
    text = _SECRET_SEGMENT.sub(lambda match: match.group(1) + TOKEN, text)
    text = _SIGNED_SEGMENT.sub(TOKEN, text)
    return without_ip_addresses(_QUERY_STRING.sub(QUERY, text))


IP = "[ip]"
# Candidates only; each is kept unless Python reads it as an address, so that a time ("21:49:11"),
# a version or a path is left alone. gunicorn writes "Invalid request from ip=::1: …" (a colon follows).
_IPV4_CANDIDATE = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w.])")
_IPV6_CANDIDATE = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:.]*[0-9A-Fa-f:]")


def _if_address(match: re.Match) -> str:
    candidate = match.group(0)
    address = candidate.rstrip(":")
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return candidate
    return IP + candidate[len(address) :]


def without_ip_addresses(text: str) -> str:
    """`text` with every IPv4 and IPv6 address replaced by a placeholder: a client's address is personal data."""
    return _IPV4_CANDIDATE.sub(_if_address, _IPV6_CANDIDATE.sub(_if_address, text))


# Anything shaped like an e-mail address: what a bounce or a database error may quote.
_ADDRESS = re.compile(r"[^\s<>\"'(),;:]+@[^\s<>\"'(),;:]+")
ADDRESS = "[address]"


def without_addresses(text: str) -> str:
    """`text` with every e-mail address replaced by a placeholder."""
    return _ADDRESS.sub(ADDRESS, text)


def redact_path(path: str) -> str:
    """A request path (and query string, if any) as it may be logged."""
    return redact_text(path or "")


class RedactingFormatter(logging.Formatter):
    """A formatter whose output, message and traceback alike, never holds a token or a query string.

    Django logs the path of a failed request ("Internal Server Error: /fr/confirm/…/"), and
    an exception's text may quote a URL: redacting the finished line covers all of them.
    """

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))
