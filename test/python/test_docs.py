"""The documentation stays true: every relative link of README.md and docs/ points to a file of the repository,
and docs/apps-reference.md is what the installed applications say about themselves."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", ROOT / "models" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_relative_links_point_to_files():
    broken = []
    for page in PAGES:
        for target in LINK.findall(page.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, "broken links: " + ", ".join(broken)


def test_readme_is_a_short_entry_page():
    text = (ROOT / "README.md").read_text()
    assert "./dev.sh demo" in text and "./dev.sh test" in text
    assert len(text) < 10_000, "README.md is the entry page: reference material goes to docs/"


def test_apps_reference_is_generated_from_the_apps():
    script = ROOT / "docs" / "generate_apps_reference.py"
    done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
