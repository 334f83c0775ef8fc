"""The report as one self-contained `index.html`: figures embedded as base64 PNG, no outside requests,
so the file reads the same offline, mailed, or years later."""

from __future__ import annotations

import base64
import re

from jinja2 import Environment
from markupsafe import Markup, escape

from reports.document import TITLE, Code, FigureFile, Section, Text
from reports.render import Table, to_html

CODE_SPAN = re.compile(r"`([^`]+)`")
TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
table.report-table { border-collapse: collapse; margin: 1em 0; font-variant-numeric: tabular-nums; }
table.report-table caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: .4em;
                           white-space: nowrap; }
table.report-table th, table.report-table td { padding: .25em .7em; border-bottom: 1px solid #ddd; text-align: right; }
table.report-table th { border-bottom: 2px solid #444; }
p.note { font-size: .85em; color: #555; max-width: 60em; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; } figcaption { font-size: .9em; color: #444; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; }
</style>
</head>
<body>
<h1>{{ title }}</h1>
{% for section in sections %}
<section id="{{ section.id }}">
<h2>{{ section.title }}</h2>
{% for block in section.blocks %}{{ block }}
{% endfor %}
</section>
{% endfor %}
</body>
</html>
"""


def block_html(block: object) -> Markup:
    if isinstance(block, Text):  # `code` spans as in the Markdown
        return Markup("<p>{}</p>").format(Markup(CODE_SPAN.sub(r"<code>\1</code>", str(escape(block.text)))))
    if isinstance(block, Code):
        return Markup('<pre><code class="language-{}">{}</code></pre>').format(block.language, block.text)
    if isinstance(block, Table):
        return Markup(to_html(block))
    if isinstance(block, FigureFile):
        data = base64.b64encode(block.png.read_bytes()).decode("ascii")
        return Markup('<figure id="figure-{}"><img alt="{}" src="data:image/png;base64,{}">'
                      "<figcaption><b>{}.</b> {}</figcaption></figure>").format(
            block.name, block.title, data, block.title, block.caption)
    raise TypeError(f"no HTML for {type(block).__name__}")


def render_html(sections: list[Section]) -> str:
    environment = Environment(autoescape=True)
    rendered = [{"id": s.title.lower().replace(" ", "-"), "title": s.title, "blocks": [block_html(b) for b in s.blocks]}
                for s in sections]
    return environment.from_string(TEMPLATE).render(title=TITLE, sections=rendered)
