"""The docs' figures open offline (issue 19 item 7): no HTML file under docs/ loads a script from
the network; plotly.js is inlined, as the package's own writers do (``include_plotlyjs=True``)."""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
HTML = sorted(DOCS.rglob("*.html"))


def test_there_are_docs_figures():
    assert HTML, f"no HTML figure under {DOCS}"


@pytest.mark.parametrize("path", HTML, ids=lambda p: p.name)
def test_html_figure_needs_no_network(path):
    text = path.read_text("utf-8")
    remote = re.findall(r"<script[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//[^>]*>", text, flags=re.I)
    assert remote == [], f"{path.name} loads {remote}: blank offline"
    if "Plotly.newPlot" in text:
        assert re.search(r"\* plotly\.js v\d", text), f"{path.name} calls Plotly without inlining plotly.js"
