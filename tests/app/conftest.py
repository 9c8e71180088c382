"""The app tests reuse the browser harness (tests/browser.py) and the trained and exported
models of tests/runtime/trained_cases.py and tests/export/artifact_cases.py."""

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
for folder in (TESTS, TESTS / "runtime", TESTS / "export"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
