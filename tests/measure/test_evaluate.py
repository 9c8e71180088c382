"""`evaluate` scores the deployed artifact, and agrees with PyTorch for float artifacts."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "export"))
from artifact_cases import artifact

from tinyai.errors import ArtifactError
from tinyai.measure.evaluate import evaluate


@pytest.mark.parametrize(
    ("row_id", "limit"),
    [("cnn", 256), ("kws", 64), ("char-gru", 8), ("minilm-sst2", 32), ("mlp-pruned", 256)],
)
def test_artifact_scores_match_pytorch(row_id, limit):
    model, task, path = artifact(row_id)
    on_artifact = evaluate(path, task.name, limit=limit)
    on_torch = evaluate(model, task, limit=limit)
    assert on_artifact["source"] == "artifact" and on_torch["source"] == "pytorch"
    assert (
        on_artifact["examples"]
        == on_torch["examples"]
        == min(limit, len(task.dataset(task.eval_split)))
    )
    assert on_artifact["split"] == task.eval_split
    for name, value in on_torch["metrics"].items():
        assert on_artifact["metrics"][name] == pytest.approx(value, abs=1e-4), name


def test_artifact_is_refused_for_a_task_of_another_kind():
    _, _, path = artifact("minilm-sst2")
    with pytest.raises(ArtifactError, match="text-classification"):
        evaluate(path, "stsb-embed", limit=4)


def test_task_defaults_to_the_artifacts_own(run_cli):
    _, task, path = artifact("cnn")
    result = evaluate(path, limit=32)
    assert result["task"] == task.name and 0.0 <= result["metrics"]["accuracy"] <= 1.0
    proc = run_cli("evaluate", str(path), "--limit", "32", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["metrics"] == result["metrics"]
