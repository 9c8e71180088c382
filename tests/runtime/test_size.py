"""`artifact_bytes`: every file the runtime needs, manifest included; tokenizer optional."""

import subprocess
import sys

import pytest
from artifact_cases import artifact

from tinyai.errors import ArtifactError
from tinyai.runtime import bench
from tinyai.runtime.size import artifact_bytes


def _on_disk(path, keep=lambda rel: True) -> int:
    files = [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files if keep(p.relative_to(path).as_posix()))


def test_an_artifact_is_all_its_files_and_bench_counts_the_same():
    _, _, path = artifact("mlp-pruned")
    assert artifact_bytes(path) == _on_disk(path)
    # No tokenizer in an image artifact: leaving it out changes nothing.
    assert artifact_bytes(path, tokenizer=False) == artifact_bytes(path)
    result = bench(path, runs=1, warmup=0, batch_size=1, isolate=False)
    assert result["file_bytes"] == artifact_bytes(path)


def test_the_tokenizer_folder_can_be_left_out(tiny_text_artifact):
    path = tiny_text_artifact
    tokenizer = _on_disk(path, lambda rel: rel.startswith("tokenizer/"))
    assert tokenizer > 100_000  # MiniLM's tokenizer.json and friends
    assert artifact_bytes(path) == _on_disk(path)
    assert artifact_bytes(path, tokenizer=False) == _on_disk(path) - tokenizer


def test_a_folder_that_is_not_an_artifact_is_a_clear_error(tmp_path):
    with pytest.raises(ArtifactError, match="not a tinyai artifact"):
        artifact_bytes(tmp_path)


def test_counting_bytes_does_not_import_torch():
    _, _, path = artifact("mlp")
    code = (
        "import sys; from tinyai.runtime.size import artifact_bytes; "
        f"print(artifact_bytes({str(path)!r})); assert 'torch' not in sys.modules"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert int(run.stdout) == artifact_bytes(path)


@pytest.fixture(scope="module")
def tiny_text_artifact(tmp_path_factory):
    """A text artifact (tokenizer folder included) from a tiny BERT, quick to export."""
    import torch
    from transformers import BertConfig, BertModel

    import tinyai
    from tinyai.models import TextClassifier

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=512,
    )  # fmt: skip
    model = TextClassifier(BertModel(config), num_labels=2).eval()
    return tinyai.export(model, tmp_path_factory.mktemp("text") / "artifact", task="sst2")
