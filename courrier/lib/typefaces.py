"""The typeface drawn into PDFs (digests, exports) and share cards: one that covers Cyrillic and Kazakh letters."""

from pathlib import Path

DEJAVU_SANS = Path(__file__).parent / "fonts" / "DejaVuSans.ttf"
