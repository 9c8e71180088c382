"""The runtime tests reuse the exported rows of tests/export/artifact_cases.py."""

import sys
from pathlib import Path

EXPORT_TESTS = str(Path(__file__).resolve().parents[1] / "export")
for folder in (EXPORT_TESTS, str(Path(__file__).resolve().parent)):
    if folder not in sys.path:
        sys.path.insert(0, folder)
