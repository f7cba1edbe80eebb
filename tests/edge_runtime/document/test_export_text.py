"""Plain text and Markdown writers: the reading flow without running headers and footers, parsed back."""

from __future__ import annotations

from markdown_it import MarkdownIt

from edge_runtime.document.export.markdown import to_markdown
from edge_runtime.document.export.text import to_text
from edge_runtime.document.structure import BlockKind, Page
from tests.edge_runtime.document.export_pages import ARTICLE, Spec, render


def _pages() -> list[Page]:
    return [render(ARTICLE, number=1)[1], Page(2, 100, 100, ()), render(ARTICLE[:3], number=3)[1]]


def test_text_pages_end_with_a_form_feed_and_paragraphs_are_apart_by_a_blank_line() -> None:
    pages = to_text(_pages()).split("\f")
    assert len(pages) == 4 and pages[-1] == ""  # every page ends with one, the empty page 2 included
    assert pages[1] == ""
    first = pages[0].rstrip("\n").split("\n\n")
    assert first[:3] == [
        "Reading order matters",
        "The first paragraph of the body runs over two lines with a hyphenated word.",  # joined at the hyphen
        "Methods",
    ]
    assert "Journal" not in pages[0] and "Confidential" not in pages[0] and "\n7\n" not in pages[0]
    assert (
        pages[2]
        == "Reading order matters\n\nThe first paragraph of the body runs over two lines with a hyphenated word.\n"
    )


def _tokens(md: str) -> list[tuple[str, str]]:
    """(block type, its inline text) in document order, for the blocks this writer makes."""
    tokens = MarkdownIt("commonmark").parse(md)
    out = []
    for i, token in enumerate(tokens):
        if token.type in ("heading_open", "paragraph_open"):
            kind = token.tag if token.type == "heading_open" else "p"
            parents = [t.type for t in tokens[:i] if t.level < token.level and t.nesting == 1][-2:]
            if "list_item_open" in parents:
                kind = "li"
            out.append((kind, tokens[i + 1].content))
        elif token.type in ("bullet_list_open", "ordered_list_open", "hr", "html_block"):
            out.append((token.type, token.content.strip()))
    return out


def test_markdown_reads_back_as_headings_paragraphs_and_lists() -> None:
    md = to_markdown(_pages())
    text_of = MarkdownIt("commonmark").render
    assert _tokens(md) == [
        ("html_block", "<!-- page 1 -->"),
        ("h1", "Reading order matters"),
        ("p", "The first paragraph of the body runs over two lines with a hyphenated word."),
        ("h2", "Methods"),
        ("bullet_list_open", ""),  # one list of two items, the second paragraph of the block continues it
        ("li", "scan the page at 300 dpi"),
        ("li", "read the lines"),
        ("ordered_list_open", ""),
        ("li", "first step"),
        ("li", "second step"),
        ("p", "Costs 5 \\* 3 = 15 \\[sic\\] \\<ok>"),
        ("hr", ""),
        ("html_block", "<!-- page 2 -->"),
        ("hr", ""),
        ("html_block", "<!-- page 3 -->"),
        ("h1", "Reading order matters"),
        ("p", "The first paragraph of the body runs over two lines with a hyphenated word."),
    ]
    # The escapes render back to the recognised characters, not to emphasis, links or tags.
    assert "<p>Costs 5 * 3 = 15 [sic] &lt;ok&gt;</p>" in text_of(md)
    assert "Journal" not in md and "Confidential" not in md


def test_markdown_text_that_looks_like_syntax_stays_text() -> None:
    texts = [["# not a heading"], ["> not a quote"], ["A. Smith wrote it"], ["3) not", "a list item"]]
    lettered = [["a) one"], ["b) two", "lines"]]
    page = render([Spec(BlockKind.TEXT, texts), Spec(BlockKind.LIST, lettered)])[1]
    html = MarkdownIt("commonmark").render(to_markdown([page]))
    assert "<h1>" not in html and "<blockquote>" not in html
    assert "<p># not a heading</p>" in html and "<p>&gt; not a quote</p>" in html
    # A paragraph that opens with a list marker is a list: "3)" is kept as a number.
    assert '<ol start="3">' in html and "<li>not a list item</li>" in html
    # An initial is text; letters are list markers only in a block the layout marked as a list.
    assert "<p>A. Smith wrote it</p>" in html
    assert "<ul>\n<li>one</li>\n<li>two lines</li>\n</ul>" in html
