"""HTML mail to readable plain text, with the standard library's tolerant HTML parser."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Elements whose content is never shown to the reader (Outlook puts its CSS and VML here).
_HIDDEN = {"style", "script", "head", "title", "xml", "template"}
_BLOCK = {
    "p",
    "div",
    "section",
    "article",
    "header",
    "footer",
    "table",
    "tr",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "pre",
    "address",
    "center",
    "form",
    "dl",
    "dt",
    "dd",
}
_VOID = {"br", "hr", "img", "meta", "link", "input", "col", "area", "base", "wbr"}


_INVISIBLE_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|mso-hide\s*:\s*all", re.I
)


def _invisible(attrs: list[tuple[str, str | None]]) -> bool:
    """Preheaders and Outlook's hidden blocks: styled away, never shown to the reader."""
    for name, value in attrs:
        if name == "hidden" or (name == "style" and value and _INVISIBLE_STYLE.search(value)):
            return True
    return False


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self.hidden = 0
        self.quote_depth = 0
        self.pre = 0
        self.hide_tag: str | None = None  # an element styled invisible (a mail's preheader)
        self.hide_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.hide_tag is not None:
            self.hide_depth += tag == self.hide_tag
            return
        if tag not in _VOID and _invisible(attrs):
            self.hide_tag, self.hide_depth = tag, 1
            return
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag == "br":
            self._newline()
        elif tag == "hr":
            self._block()
            self.lines[-1] = "_" * 32
            self._newline()
        elif tag == "blockquote":
            self._block()
            self.quote_depth += 1
        elif tag == "li":
            self._block()
            self._write("- ")
        elif tag in ("td", "th"):
            self._write(" ")
        elif tag in _BLOCK:
            if tag == "pre":
                self.pre += 1
            self._block()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if self.hide_tag is not None:
            if tag == self.hide_tag:
                self.hide_depth -= 1
                self.hide_tag = self.hide_tag if self.hide_depth else None
            return
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag == "blockquote":
            self._block()
            self.quote_depth = max(0, self.quote_depth - 1)
        elif tag in _BLOCK or tag == "li":
            if tag == "pre":
                self.pre = max(0, self.pre - 1)
            self._block()

    def handle_data(self, data: str) -> None:
        if self.hidden or self.hide_tag is not None:
            return
        if self.pre:
            for i, chunk in enumerate(data.split("\n")):
                if i:
                    self._newline()
                self._write(chunk)
            return
        # Not \s: a lone &nbsp; is how Outlook writes an empty line, and it must survive.
        self._write(re.sub(r"[ \t\r\n\f]+", " ", data))

    def _write(self, text: str) -> None:
        if not text:
            return
        if not self.lines[-1]:
            text = text if self.pre else text.lstrip(" ")
            if not text:
                return
            text = "> " * self.quote_depth + text
        self.lines[-1] += text

    def _newline(self) -> None:
        self.lines.append("")

    def _block(self) -> None:
        # One line break per block: Outlook wraps every line in its own <p class=MsoNormal>.
        if self.lines[-1].strip(" >"):
            self.lines.append("")


def html_to_text(html: str) -> str:
    """Readable text of an HTML body: blocks become lines, quotes get '> ', CSS/VML dropped."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = [line.replace("\xa0", " ").rstrip() for line in parser.lines]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")
