"""Markdown written by organisers, rendered and then sanitised.

Organisers are trusted to write, not to inject: raw HTML in the source is
escaped by the renderer's output being passed through an allow-list.
"""

import markdown as md
import nh3

ALLOWED_TAGS = {
    "p",
    "br",
    "strong",
    "em",
    "a",
    "ul",
    "ol",
    "li",
    "blockquote",
    "h2",
    "h3",
    "h4",
    "hr",
    "code",
    "pre",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}


def render_markdown(source: str) -> str:
    html = md.markdown(source or "", extensions=["sane_lists"], output_format="html")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
