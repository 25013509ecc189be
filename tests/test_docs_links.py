"""No dead links in the docs: README.md, docs/*.md and bench/RESULTS.md.

Checked without the network:

- every relative markdown link or image ``[text](path#anchor)`` names a file or folder
  that exists, and its ``#anchor`` (also a bare ``#anchor`` on the same page) is the
  GitHub-style slug of a heading in the target page;
- every repository path written as inline code (``edge/visits.py``, ``deploy/``) exists,
  where a path is a word whose first part is a top-level folder of this repository, and a
  bare ``NAME.md`` exists next to the page or at the root.

Web links (``https://...``) and fenced code blocks are not checked: code blocks hold
example commands and paths on a device (``/etc/exteros/...``), not files of this repo.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README_MAX_LINES = 150

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
PATH_WORD = re.compile(r"^[A-Za-z0-9_.\-/]+$")
SCHEME = re.compile(r"^[a-z][a-z0-9+.\-]*:", re.IGNORECASE)


def doc_files(root: Path) -> list[Path]:
    files = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    results = root / "bench" / "RESULTS.md"
    if results.exists():
        files.append(results)
    return files


def prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    out: list[tuple[int, str]] = []
    fence: str | None = None
    for n, line in enumerate(text.splitlines(), 1):
        m = FENCE.match(line)
        if m:
            if fence is None:
                fence = m.group(1)
            elif m.group(1) == fence:
                fence = None
            continue
        if fence is None:
            out.append((n, line))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: link text kept, formatting and punctuation dropped,
    lower case, each space a hyphen."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out: set[str] = set()
    for _, line in prose_lines(page.read_text(encoding="utf-8")):
        m = HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def top_level_dirs(root: Path) -> set[str]:
    return {p.name for p in root.iterdir() if p.is_dir() and p.name not in {".git", ".venv"}}


def problems(page: Path, root: Path) -> list[str]:
    """Every dead link or path reference on one page, as 'file:line: what'."""
    found: list[str] = []
    rel = page.relative_to(root)
    dirs = top_level_dirs(root)
    for n, line in prose_lines(page.read_text(encoding="utf-8")):
        where = f"{rel}:{n}"
        for target in LINK.findall(line):
            if SCHEME.match(target):
                continue  # https:, mailto:, file: ...
            path_part, _, anchor = target.partition("#")
            dest = (page.parent / path_part).resolve() if path_part else page
            if not dest.exists():
                found.append(f"{where}: link to missing file {target}")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                found.append(f"{where}: link to missing heading #{anchor} in {target}")
        for _, code in INLINE_CODE.findall(LINK.sub("", line)):
            for word in code.split():
                if not PATH_WORD.match(word) or "//" in word:
                    continue
                first = word.split("/", 1)[0]
                if "/" in word and first in dirs:
                    if not (root / word).exists():
                        found.append(f"{where}: path {word} does not exist")
                elif "/" not in word and word.endswith(".md") and word != ".md":
                    beside, at_root = page.parent / word, root / word
                    if not (beside.exists() or at_root.exists()):
                        found.append(f"{where}: file {word} does not exist")
    return found


@pytest.mark.parametrize("page", doc_files(ROOT), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_dead_links_or_paths(page: Path) -> None:
    found = problems(page, ROOT)
    assert not found, "dead references:\n" + "\n".join(found)


def test_every_docs_page_is_linked_from_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in (ROOT / "docs").glob("*.md") if f"(docs/{p.name}" not in readme]
    assert missing == []


def test_units_documentation_points_at_docs_files() -> None:
    """deploy/install.sh installs README.md and docs/ under /opt/exteros/share/doc, so a
    unit's Documentation=file:///opt/exteros/share/doc/X must be the repo's file X."""
    prefix = "file:///opt/exteros/share/doc/"
    units = sorted((ROOT / "deploy").glob("*.service"))
    assert units
    for unit in units:
        uris = [
            uri
            for line in unit.read_text(encoding="utf-8").splitlines()
            if line.startswith("Documentation=")
            for uri in line.removeprefix("Documentation=").split()
        ]
        assert uris, f"{unit.name}: no Documentation="
        for uri in uris:
            assert uri.startswith(prefix), f"{unit.name}: {uri}"
            assert (ROOT / uri.removeprefix(prefix)).is_file(), f"{unit.name}: {uri} is dead"


def test_readme_stays_short() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail into docs/"


def test_slugs_match_github() -> None:
    assert slug("Accuracy on real footage (`bench/accuracy.py`)") == (
        "accuracy-on-real-footage-benchaccuracypy"
    )
    assert slug("3.1 Receipts (`exteros.receipt/1`)") == "31-receipts-exterosreceipt1"
    assert slug("Counts == ground truth per scenario") == "counts--ground-truth-per-scenario"
    assert slug("Small and far people (`min_person_px`, automatic input size)") == (
        "small-and-far-people-min_person_px-automatic-input-size"
    )


def test_the_check_finds_dead_links(tmp_path: Path) -> None:
    (tmp_path / "edge").mkdir()
    (tmp_path / "edge" / "visits.py").write_text("")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Page A\n\n## The seams\n")
    page = tmp_path / "README.md"
    page.write_text(
        "# Top\n\n"
        "[ok](docs/a.md#the-seams) [ok](#top) `edge/visits.py` [web](https://example.com)\n"
        "[gone](docs/b.md) [bad anchor](docs/a.md#no-such) [bad self](#nowhere)\n"
        "`edge/tracker.py` `NOTES.md`\n"
        "```\n[in a fence](docs/missing.md) `edge/also_missing.py`\n```\n"
    )
    assert problems(page, tmp_path) == [
        "README.md:4: link to missing file docs/b.md",
        "README.md:4: link to missing heading #no-such in docs/a.md#no-such",
        "README.md:4: link to missing heading #nowhere in #nowhere",
        "README.md:5: path edge/tracker.py does not exist",
        "README.md:5: file NOTES.md does not exist",
    ]
