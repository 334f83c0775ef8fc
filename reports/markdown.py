"""The report as one Markdown page (`report.md`), figures linked beside it."""

from __future__ import annotations

from reports.document import TITLE, Code, FigureFile, Section, Text
from reports.render import Table, to_markdown


def block_markdown(block: object) -> str:
    if isinstance(block, Text):
        return block.text
    if isinstance(block, Code):
        return f"```{block.language}\n{block.text.rstrip()}\n```"
    if isinstance(block, Table):
        return to_markdown(block).rstrip()
    if isinstance(block, FigureFile):
        pdf = block.paths[1].name
        return f"**Figure: {block.title}.** {block.caption} ([PDF]({pdf}))\n\n![{block.title}]({block.png.name})"
    raise TypeError(f"no Markdown for {type(block).__name__}")


def render_markdown(sections: list[Section]) -> str:
    parts = [f"# {TITLE}"]
    for section in sections:
        parts += [f"## {section.title}", *map(block_markdown, section.blocks)]
    return "\n\n".join(parts) + "\n"
