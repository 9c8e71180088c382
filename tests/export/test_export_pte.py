"""Stretch format: an ExecuTorch program beside the ONNX graph, with the same parity checks.

Runs only where the optional `executorch` package is installed (it is not a dependency).
"""

import json

import numpy as np
import pytest
import torch
from artifact_cases import BY_ID

import tinyai
from tinyai.errors import ConfigError
from tinyai.export import ExportConfig
from tinyai.tasks import get_task

pytest.importorskip("executorch")

PTE = ExportConfig(formats=("onnx", "pte"))


@pytest.mark.parametrize("row_id", ["mlp", "cnn", "kws"])
def test_pte_program_matches_pytorch_and_is_in_the_manifest(tmp_path, row_id):
    from tinyai.export.pte import run_pte
    from tinyai.runtime import load_artifact

    row = BY_ID[row_id]
    model, task = row.build(), get_task(row.task)
    path = tinyai.export(model, tmp_path / row_id, task=task, config=PTE)
    manifest = json.loads((path / "manifest.json").read_text())
    assert "model.pte" in manifest["files"]
    assert manifest["other_formats"]["pte"]["export_check"]["max_abs_diff"] < 1e-4
    load_artifact(path)  # the hash table covers the extra file
    for batch_size in (1, 5):
        inputs = task.example_inputs(batch_size=batch_size)
        with torch.no_grad():
            expected = model(**inputs).numpy()
        got = run_pte(path / "model.pte", list(inputs.values()))
        np.testing.assert_allclose(got, expected, atol=1e-4 * max(1.0, np.abs(expected).max()))


def test_pte_refuses_recurrent_models(tmp_path):
    row = BY_ID["char-gru"]
    with pytest.raises(ConfigError, match="GRU/LSTM"):
        tinyai.export(row.build(), tmp_path / "gru", task=get_task(row.task), config=PTE)
