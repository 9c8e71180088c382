"""Run many `tinyai` command lines in this one process, each exactly as the `tinyai` script
does (`tinyai.cli.main` with sys.argv, stdin, cwd and environment set), and write what each
printed and its exit status as JSON: `python run_cases.py CASES.json RESULTS.json`.

The bad-input table goes through this so that a hundred cases pay for importing torch once;
test_bad_inputs.py also runs a sample of them as separate `python -m tinyai` processes and
checks they end the same way.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    from tinyai.cli import main

    stdin = base64.b64decode(case.get("stdin_b64") or "")
    out, err = io.StringIO(), io.StringIO()
    saved = (sys.argv, sys.stdin, os.getcwd(), dict(os.environ))
    sys.argv = ["tinyai", *case["argv"]]
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    os.environ.update(case.get("env") or {})
    os.chdir(case["cwd"])
    code: Any = 0
    crash = None
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # a bug: what the user would see as a traceback
        code, crash = "crash", traceback.format_exc()
    finally:
        sys.argv, sys.stdin = saved[0], saved[1]
        os.chdir(saved[2])
        os.environ.clear()
        os.environ.update(saved[3])
    return {"id": case["id"], "code": code, "stdout": out.getvalue(), "stderr": err.getvalue(),
            "crash": crash, "seconds": round(time.perf_counter() - start, 2)}


def main() -> None:
    cases = json.loads(Path(sys.argv[1]).read_text())
    results = [run_case(case) for case in cases]
    Path(sys.argv[2]).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
