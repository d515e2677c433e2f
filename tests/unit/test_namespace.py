"""The project installs and imports as one namespace, ``twinwatch``.

PyPI has unrelated packages named ``stream`` and ``detectors``; twinwatch must
neither break them nor be broken by them, so no source file may import the
repository's folders by their bare names.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_BARE = re.compile(
    r"^\s*(?:>>>\s+|\.\.\.\s+)?(?:from|import)\s+(?:stream|twin|detectors|telemetry_adapters)(?:[\s.,]|$)", re.M
)


def _sources() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "*.py"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout.split()
    return [REPO / f for f in out if (REPO / f).is_file()]


def test_no_source_imports_a_bare_top_level_name() -> None:
    offenders = [f"{p.relative_to(REPO)}:{text[: m.start()].count(chr(10)) + 1}"
                 for p in _sources() for text in [p.read_text(encoding="utf-8")] for m in _BARE.finditer(text)]
    assert offenders == [], f"import twinwatch.<package>, not the bare folder name: {offenders[:20]}"


def test_installed_package_does_not_provide_bare_names() -> None:
    """Outside the source tree only ``twinwatch.*`` is importable."""
    code = (
        "import importlib.util, twinwatch.twin, twinwatch.stream, twinwatch.detectors, twinwatch.telemetry_adapters\n"
        "print(sorted(n for n in ('twin', 'stream', 'detectors', 'telemetry_adapters') "
        "if importlib.util.find_spec(n) is not None))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "[]"
