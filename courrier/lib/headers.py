"""Header values built from user input, made safe.

Python 3.11's email package serialises an RFC 2047 encoded newline
(``=?UTF-8?Q?=0A?=``) as a real line break (CVE-2024-6923), and a raw CR, LF
or U+2028 makes Django raise inside its mail code. So every value that can
reach a header is flattened here first: control and line-separator characters
become spaces and encoded-word markers are broken up, so the value can only
ever be text inside one header.
"""

import re

# Controls (Unicode category Cc: U+0000-U+001F and U+007F-U+009F), the line and
# paragraph separators (Zl and Zp: U+2028 and U+2029, the only characters of
# those categories), and the bidi controls that can make a header read
# differently than it parses. Joiners (U+200C, U+200D) stay: names in some
# scripts and emoji need them. One character class, so that a letter's
# headers cost one pass of the regular expression engine rather than a
# Python loop over every character (tests/test_letters.py checks the class
# against the Unicode database, code point by code point).
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_ENCODED_WORD = re.compile(r"=\?")
_SPACES = re.compile(r"\s+")


def header_text(value: str, max_length: int = 200) -> str:
    cleaned = _UNSAFE.sub(" ", value)
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
