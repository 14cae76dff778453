"""Header values built from user input, made safe.

Python 3.11's email package serialises an RFC 2047 encoded newline
(``=?UTF-8?Q?=0A?=``) as a real line break (CVE-2024-6923), and a raw CR, LF
or U+2028 makes Django raise inside its mail code. So every value that can
reach a header is flattened here first: control and line-separator characters
become spaces and encoded-word markers are broken up, so the value can only
ever be text inside one header.
"""

import re
import unicodedata

# Controls (Cc), line and paragraph separators (U+2028, U+2029) and the
# bidi controls that can make a header read differently than it parses.
# Joiners (U+200C, U+200D) stay: names in some scripts and emoji need them.
_UNSAFE_CATEGORIES = {"Cc", "Zl", "Zp"}
_BIDI_CONTROLS = set("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff")
_ENCODED_WORD = re.compile(r"=\?")
_SPACES = re.compile(r"\s+")


def header_text(value: str, max_length: int = 200) -> str:
    cleaned = "".join(
        " " if unicodedata.category(ch) in _UNSAFE_CATEGORIES or ch in _BIDI_CONTROLS else ch for ch in value
    )
    cleaned = _ENCODED_WORD.sub("= ?", cleaned)
    cleaned = _SPACES.sub(" ", cleaned).strip()
    return cleaned[:max_length]


_SAFE_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")


def is_plain_address(address: str) -> bool:
    """An address with a dot-atom local part and an ASCII domain: nothing to quote or encode.

    Django's EmailValidator accepts quoted local parts that may hold control
    characters; a letter's Reply-To must never need quoting.
    """
    return len(address) <= 254 and bool(_SAFE_ADDRESS.match(address)) and "=?" not in address
