"""The documentation site builds in strict mode: a broken link, anchor or API reference fails the build."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_docs_build_strictly_with_the_api_reference(tmp_path):
    site = tmp_path / "site"
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                             "-d", str(site)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    api = (site / "python-api" / "index.html").read_text()
    assert "layerwise_samples" in api and "bounds_only" in api  # words of the docstrings of convert and Recipe
