"""docs/reference.md holds the facts the code cites: every citation `docs/reference.md#<section>`
anywhere in the repository names a section that exists, and nothing cites the old, external
reference file any more."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reference.md"
CITATION = re.compile(r"docs/reference\.md#([A-Za-z0-9_-]+)")
SEARCHED = ["t2ilib/**/*.py", "tests/**/*.py", "tools/**/*.py", "data_prep/**/*.py", "benchmarks/**/*.py",
            "benchmarks/**/*.md", "notebooks/*.ipynb", "docs/*.md", "README.md"]


def heading_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings: lower case, punctuation other than - and _ dropped,
    spaces to hyphens (a repeated heading gets -1, -2, ...)."""
    anchors, seen = set(), {}
    for line in markdown.splitlines():
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def citations():
    for pattern in SEARCHED:
        for path in sorted(ROOT.glob(pattern)):
            text = path.read_text(encoding="utf-8")
            for number, line in enumerate(text.splitlines(), 1):
                yield path.relative_to(ROOT), number, line


def test_every_citation_of_the_reference_names_a_section_that_exists():
    anchors = heading_anchors(DOC.read_text(encoding="utf-8"))
    assert {"flickr8k", "split-rules", "stackgan", "conventions", "losses", "glove-vae", "metrics",
            "environment", "df-gan"} <= anchors
    cited, broken = 0, []
    for path, number, line in citations():
        for anchor in CITATION.findall(line):
            cited += 1
            if anchor not in anchors:
                broken.append(f"{path}:{number}: #{anchor}")
        # the section list of the page itself: (#anchor) links
        if path == Path("docs/reference.md"):
            broken += [f"{path}:{number}: #{anchor}" for anchor in re.findall(r"\]\(#([\w-]+)\)", line)
                       if anchor not in anchors]
    assert not broken, "Citations of sections that docs/reference.md does not have: " + "; ".join(broken)
    assert cited >= 13  # the models, text, data and VAE modules cite it


def test_nothing_cites_the_old_reference_file():
    old_name = "REFERENCE" + ".md"  # split, so that this file does not match itself
    stale = [f"{path}:{number}" for path, number, line in citations() if old_name in line]
    assert not stale, f"{old_name} is not in the repository: cite docs/reference.md#<section> instead: {stale}"


def test_the_anchor_rule_on_headings_like_the_reference_pages():
    assert heading_anchors("## GloVe VAE\n### Stage-I (64x64)\n## Files\n### Files\n") == \
        {"glove-vae", "stage-i-64x64", "files", "files-1"}
