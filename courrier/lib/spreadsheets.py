"""CSV cells that a spreadsheet opens as text, never as a formula (CSV injection)."""

# A spreadsheet runs a cell starting with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(value: str) -> str:
    """A cell a spreadsheet would run as a formula, made plain text by a leading quote."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def unneutralised(value: str) -> str:
    """The cell as it was before export (the quote in front of a would-be formula taken off)."""
    return value[1:] if value.startswith("'") and value[1:].startswith(FORMULA_STARTS) else value
