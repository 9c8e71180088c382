"""Every intermediate model a tinyai pipeline produces round-trips through `save_model`.

One table of (model, state) rows: reference models and a tiny BERT head, fine-tuned, distilled
(reduced vocabulary, factorized embedding), pruned (held masks, permanent, structured plans),
quantized under every scheme, and pruned then quantized. Each row is saved here; a fresh
Python process (this file run as a script) loads every directory and writes the reloaded
model's outputs, summary and ONNX export, which must equal the original's bit for bit.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

# ----------------------------------------------------------------------- the models


def _seeded_bn(model: nn.Module) -> nn.Module:
    """Non-trivial BatchNorm statistics, so buffers are proven to round-trip too."""
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen))
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
    return model.eval()


def fashion() -> nn.Module:
    from tinyai.models import FashionCNN, FashionCNNConfig

    return _seeded_bn(FashionCNN(FashionCNNConfig(channels=(8, 16, 16))))


def lenet5() -> nn.Module:
    from tinyai.models import LeNet5, LeNet5Config

    return _seeded_bn(LeNet5(LeNet5Config(channels=(6, 16), hidden=64)))


def mlp() -> nn.Module:
    from tinyai.models import LeNet300100, LeNet300100Config

    return LeNet300100(LeNet300100Config(hidden=(64, 32))).eval()


def kws() -> nn.Module:
    from tinyai.models import KwsDSCNN, KwsDSCNNConfig

    return _seeded_bn(KwsDSCNN(KwsDSCNNConfig(channels=(16, 16, 16))))


def char(cell: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        from tinyai.models import CharLM, CharLMConfig

        config = CharLMConfig(cell=cell, embed_dim=16, hidden_size=32, num_layers=2, seq_len=12)
        return CharLM(config).eval()

    return build


def bert() -> nn.Module:
    """A TextClassifier over a tiny BERT with MiniLM's vocabulary, its head "fine-tuned"."""
    from transformers import BertConfig, BertModel

    from tinyai.models import TextClassifier

    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64,
    )  # fmt: skip
    model = TextClassifier(BertModel(config, add_pooling_layer=False), num_labels=3).eval()
    with torch.no_grad():
        model.classifier.bias.add_(0.5)
    return model


def student() -> nn.Module:
    """A distilled student: reduced vocabulary, factorized word embeddings."""
    from tinyai.distill.students import StudentSpec, build_student

    spec = StudentSpec(layers=(0,), kept_vocab=tuple(_vocab().kept_ids), embedding_size=16)
    return build_student(bert(), spec).eval()


_VOCAB: list[Any] = []


def _vocab() -> Any:
    """A reduced MiniLM vocabulary (> 1024 rows, so int8 embeddings apply) from SST-2 text."""
    if not _VOCAB:
        import tempfile

        from tinyai.data import load_glue
        from tinyai.distill.vocab import reduce_vocab
        from tinyai.models import resolve

        texts = list(load_glue("sst2", "dev").texts)[:600]
        out = Path(tempfile.mkdtemp(prefix="tinyai-vocab-"))
        _VOCAB.append(reduce_vocab(resolve("minilm-l6"), texts, out))
    return _VOCAB[0]


# ----------------------------------------------------------------------- the states


def magnitude(permanent: bool) -> Callable[[nn.Module], nn.Module]:
    def apply(model: nn.Module) -> nn.Module:
        from tinyai.prune import MagnitudePruning, make_permanent, prune_

        prune_(model, MagnitudePruning(sparsity=0.7))
        return make_permanent(model) if permanent else model

    return apply


def structured(targets: tuple[str, ...], ratio: float = 0.5) -> Callable[[nn.Module], nn.Module]:
    def apply(model: nn.Module) -> nn.Module:
        from tinyai.prune import StructuredPruning, prune_

        inputs = _inputs(model)
        config = StructuredPruning(ratio=ratio, targets=targets)
        return prune_(model, config, example_inputs=inputs)

    return apply


def quantized(config: Any) -> Callable[[nn.Module], nn.Module]:
    def apply(model: nn.Module) -> nn.Module:
        from tinyai.quantize import quantize_

        return quantize_(model, copy.deepcopy(config))

    return apply


def two_step(make: Callable[[str], Any], train_mode: bool = False) -> Callable[[nn.Module], Any]:
    """prepare -> a few batches (calibration, or QAT's training-mode ranges) -> convert."""

    def apply(model: nn.Module) -> nn.Module:
        from tinyai.quantize import quantize_

        quantize_(model, make("prepare"))
        model.train(train_mode)
        with torch.no_grad():
            for seed in range(3):
                model(**_inputs(model, seed=seed))
        model.eval()
        return quantize_(model, make("convert"))

    return apply


def weight_sharing(model: nn.Module) -> nn.Module:
    """Deep Compression: BatchNorm folded, k-means shared weights, converted."""
    from tinyai.quantize import WeightSharing, fold_batchnorm, quantize_

    fold_batchnorm(model)
    quantize_(model, WeightSharing(bits=4, step="prepare"))
    return quantize_(model, WeightSharing(bits=4, step="convert"))


def chain(*steps: Callable[[nn.Module], nn.Module]) -> Callable[[nn.Module], nn.Module]:
    def apply(model: nn.Module) -> nn.Module:
        for step in steps:
            model = step(model)
        return model

    return apply


def _inputs(model: nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """Two examples for the model (real-looking token ids for text models)."""
    from tinyai.models.heads import is_encoder_head

    if not is_encoder_head(model):
        inputs = model.example_inputs(batch_size=2)
        gen = torch.Generator().manual_seed(seed)
        return {k: torch.randn(v.shape, generator=gen) if v.is_floating_point() else v
                for k, v in inputs.items()}  # fmt: skip
    rows = model.encoder.get_input_embeddings()
    vocab = getattr(rows, "num_embeddings", None) or rows.rows.num_embeddings
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (2, 9), generator=gen)
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    return {"input_ids": ids, "attention_mask": mask}


@dataclass(frozen=True)
class Row:
    id: str
    build: Callable[[], nn.Module]
    state: Callable[[nn.Module], nn.Module] = lambda m: m


def _rows() -> list[Row]:
    from tinyai.quantize import (
        QAT,
        Int8Dynamic,
        Int8Static,
        MixedPrecision,
        WeightOnly,
    )

    static = two_step(lambda step: Int8Static(step=step))
    return [
        Row("fashion-cnn", fashion),
        Row("lenet5", lenet5),
        Row("lenet-300-100", mlp),
        Row("kws", kws),
        Row("char-gru", char("gru")),
        Row("char-lstm", char("lstm")),
        Row("bert-finetuned", bert),
        Row("student-reduced-vocab-factorized", student),
        Row("mlp-held-masks", mlp, magnitude(permanent=False)),
        Row("gru-held-masks", char("gru"), magnitude(permanent=False)),
        Row("mlp-pruned-permanent", mlp, magnitude(permanent=True)),
        Row("fashion-structured", fashion, structured(("channels", "neurons"))),
        Row("kws-structured", kws, structured(("channels",))),
        Row("gru-structured", char("gru"), structured(("neurons",))),
        Row("bert-heads-ffn", bert, structured(("heads", "ffn"))),
        Row("mlp-int8-dynamic", mlp, quantized(Int8Dynamic())),
        Row("fashion-int8-static", fashion, static),
        Row("lenet5-int8-static", lenet5, static),
        Row("mlp-int2", mlp, quantized(WeightOnly(bits=2, group_size=16))),
        Row("mlp-int4", mlp, quantized(WeightOnly(bits=4, group_size=16))),
        Row("mlp-int8-weight-only", mlp, quantized(WeightOnly(bits=8, group_size=16))),
        Row("mlp-mixed", mlp, quantized(MixedPrecision(layer_bits={"layers.1": 2}, group_size=16))),
        Row("fashion-qat8", fashion, two_step(lambda s: QAT(step=s, bits=8), train_mode=True)),
        Row("mlp-qat4", mlp, two_step(lambda s: QAT(step=s, bits=4, group_size=16), True)),
        Row("lenet5-weight-sharing", lenet5, weight_sharing),
        Row("bert-int8-embedding8", bert, quantized(Int8Dynamic(embedding_bits=8))),
        Row("bert-int4-embedding4", bert, quantized(WeightOnly(bits=4, embedding_bits=4))),
        Row("gru-int8-dynamic", char("gru"), quantized(Int8Dynamic())),
        Row("student-int8", student, quantized(Int8Dynamic(embedding_bits=8))),
        Row("fashion-structured-int8-static", fashion, chain(structured(("channels",)), static)),
        Row("mlp-sparse-int8", mlp, chain(magnitude(permanent=True), quantized(Int8Dynamic()))),
    ]  # fmt: skip


ROW_IDS = [
    "fashion-cnn", "lenet5", "lenet-300-100", "kws", "char-gru", "char-lstm", "bert-finetuned",
    "student-reduced-vocab-factorized", "mlp-held-masks", "gru-held-masks",
    "mlp-pruned-permanent", "fashion-structured", "kws-structured", "gru-structured",
    "bert-heads-ffn", "mlp-int8-dynamic", "fashion-int8-static", "lenet5-int8-static",
    "mlp-int2", "mlp-int4", "mlp-int8-weight-only", "mlp-mixed", "fashion-qat8", "mlp-qat4",
    "lenet5-weight-sharing", "bert-int8-embedding8", "bert-int4-embedding4",
    "gru-int8-dynamic", "student-int8", "fashion-structured-int8-static", "mlp-sparse-int8",
]  # fmt: skip


# ----------------------------------------------------------------------- measuring


def measure(model: nn.Module, inputs: dict[str, torch.Tensor], out: Path) -> None:
    """Write what must survive a round trip: outputs, summary, the ONNX export's bytes."""
    from safetensors.torch import save_file

    from tinyai.measure.summary import summary
    from tinyai.quantize import to_onnx

    with torch.no_grad():
        save_file({"output": model(**inputs).contiguous()}, str(out / "output.safetensors"))
    (out / "summary.json").write_text(summary(model, inputs).to_json())
    to_onnx(model, out / "model.onnx", inputs, kind=getattr(model, "kind", ""))


def _child(root: Path) -> None:
    """The fresh process: load every saved row and measure it."""
    from safetensors.torch import load_file

    from tinyai.models import load_model

    for row in sorted(p for p in root.iterdir() if p.is_dir()):
        model = load_model(row / "model")
        # Keys come back sorted, and copies get freshly allocated (aligned) memory as the
        # parent's inputs had: BLAS kernels may round differently on unaligned buffers.
        stored = load_file(str(row / "inputs.safetensors"))
        inputs = {name: stored[name].clone() for name in model.input_names}
        (row / "reloaded").mkdir()
        measure(model, inputs, row / "reloaded")


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build and save every row; a new process loads and measures them all while this one
    measures the originals."""
    from safetensors.torch import save_file

    from tinyai.models import save_model

    root = tmp_path_factory.mktemp("model-dir-table")
    rows = _rows()
    assert [r.id for r in rows] == ROW_IDS
    originals = []
    for row in rows:
        torch.manual_seed(0)
        model = row.state(row.build()).eval()
        inputs = _inputs(model, seed=7)
        (root / row.id / "original").mkdir(parents=True)
        save_file(inputs, str(root / row.id / "inputs.safetensors"))
        save_model(model, root / row.id / "model")
        originals.append((model, inputs, root / row.id / "original"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(
        [sys.executable, __file__, str(root)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    for model, inputs, out in originals:
        measure(model, inputs, out)
    _, stderr = child.communicate(timeout=900)
    assert child.returncode == 0, stderr[-3000:]
    return root


@pytest.mark.parametrize("row_id", ROW_IDS)
def test_reloaded_model_is_the_saved_model(table: Path, row_id: str) -> None:
    from safetensors.torch import load_file

    from tinyai.models import is_model_dir

    row = table / row_id
    assert is_model_dir(row / "model")
    original, reloaded = row / "original", row / "reloaded"
    want = load_file(str(original / "output.safetensors"))["output"]
    got = load_file(str(reloaded / "output.safetensors"))["output"]
    assert got.dtype == want.dtype and torch.equal(got, want)
    assert json.loads((reloaded / "summary.json").read_text()) == json.loads(
        (original / "summary.json").read_text()
    )
    assert (reloaded / "model.onnx").read_bytes() == (original / "model.onnx").read_bytes()


def test_the_table_covers_every_record_type(table: Path) -> None:
    found = set()
    for row_id in ROW_IDS:
        structure = json.loads((table / row_id / "model" / "structure.json").read_text())
        found |= {record["type"] for record in structure["records"]}
    assert found == {
        "pruning-plan", "held-masks", "quantized-layers", "factorized-embeddings", "absent-modules"
    }  # fmt: skip


if __name__ == "__main__":
    _child(Path(sys.argv[1]))
