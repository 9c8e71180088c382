"""The runtime never imports torch: checked in a fresh interpreter."""

import subprocess
import sys

CODE = """
import sys
import tinyai.runtime, tinyai.runtime.bench, tinyai.runtime.session, tinyai.runtime.preprocess
import tinyai.runtime.codecs, tinyai.measure.evaluate
tinyai.runtime.codecs.codecs()  # imports every codec module
from tinyai.runtime import load_artifact
predictor = load_artifact(sys.argv[1])
predictor.predict([__import__("numpy").zeros((28, 28), "uint8")])
assert "torch" not in sys.modules, sorted(m for m in sys.modules if m.startswith("torch"))
print("ok")
"""


def test_runtime_and_artifact_evaluation_do_not_import_torch():
    from artifact_cases import artifact

    _, _, path = artifact("mlp-pruned")
    proc = subprocess.run([sys.executable, "-c", CODE, str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
