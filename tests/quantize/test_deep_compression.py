"""Weight sharing + Huffman coding on real MiniLM weights: lossless, and really smaller."""

import time

import numpy as np
import pytest
import torch
from torch import nn

from tinyai.quantize import WeightSharing, quantize_
from tinyai.quantize.cluster import distinct_values, kmeans_1d
from tinyai.runtime import codecs
from tinyai.runtime.codecs.huffman import HuffmanCodec, decode_symbols, encode_symbols


@pytest.fixture(scope="module")
def minilm_ffn() -> torch.Tensor:
    from safetensors.numpy import load_file

    from tinyai.models.hf import resolve

    weights = load_file(str(resolve("minilm-l6") / "model.safetensors"))
    key = next(k for k in weights if k.endswith("layer.0.intermediate.dense.weight"))
    return torch.from_numpy(weights[key].copy())  # [1536, 384]


def _layer(weight: torch.Tensor, sparsity: float) -> nn.Linear:
    lin = nn.Linear(weight.shape[1], weight.shape[0])
    w = weight.clone()
    w[w.abs() < w.abs().flatten().quantile(sparsity)] = 0
    lin.weight.data.copy_(w)
    return lin


def test_kmeans_linear_init_fits_values() -> None:
    v = torch.cat([torch.randn(5000) * 0.1, torch.tensor([2.0, -2.0])])
    centroids, idx = kmeans_1d(v, 16)
    assert centroids.numel() == 16 and idx.max() < 16
    assert centroids.max() > 1.0  # linear init keeps a centroid for the rare large weights
    assert (centroids[idx] - v).pow(2).mean() < v.var() / 5


@pytest.mark.parametrize("sparsity", [0.0, 0.9])
def test_cluster_then_huffman_round_trips_real_weights(minilm_ffn, sparsity) -> None:
    model = nn.Sequential(_layer(minilm_ffn, sparsity))
    quantize_(model, WeightSharing(bits=4))
    # only the 16 centroids train; pruned zeros stay zero through fine-tuning
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert sum(p.numel() for p in trainable if p.dim() == 1 and p.numel() == 16) == 16
    model(torch.randn(4, 384)).pow(2).sum().backward()
    centroids = model[0].parametrizations.weight[0].centroids
    assert centroids.grad is not None and centroids.grad.abs().sum() > 0
    quantize_(model, WeightSharing(bits=4, step="convert"))
    w = model[0].weight.detach().numpy()
    assert distinct_values(model[0].weight) <= 16
    assert np.mean(w == 0) >= sparsity - 0.01

    codec = HuffmanCodec()
    data, meta = codec.encode(w)
    start = time.perf_counter()
    back = codec.decode(data, {**meta, "shape": list(w.shape), "dtype": "float32"})
    assert time.perf_counter() - start < 1.0  # 590k weights
    assert back.tobytes() == w.tobytes()
    bits_per_weight = 8 * len(data) / w.size
    # Huffman beats the fixed 4-bit index (dense) / index + position (sparse) it replaces
    assert bits_per_weight < (4.0 if sparsity == 0 else 0.1 * (4 + 8) + 0.2)
    name, packed, _ = codecs.encode_smallest(w)
    assert name == "huffman" and len(packed) == len(data)


def test_huffman_symbols_round_trip_skewed_and_single_symbol() -> None:
    rng = np.random.default_rng(0)
    skewed = np.minimum(rng.geometric(0.3, size=100_003) - 1, 200)
    for symbols in (skewed, np.zeros(5000, dtype=np.int64), np.arange(7)):
        data, meta = encode_symbols(symbols, int(symbols.max()) + 1)
        assert np.array_equal(decode_symbols(data, meta), symbols)


def test_huffman_declines_ordinary_float_weights() -> None:
    assert (
        HuffmanCodec().encode(np.random.default_rng(0).standard_normal(10_000).astype(np.float32))
        is None
    )


@pytest.mark.parametrize("shape", [(0, 4), (1000,), (64, 64)])
def test_all_zero_or_empty_tensors_pack_losslessly(shape) -> None:
    # An all-zero tensor has an empty palette: Huffman declines it, the sparse codec takes it.
    zeros = np.zeros(shape, np.float32)
    assert HuffmanCodec().encode(zeros) is None
    name, data, meta = codecs.encode_smallest(zeros)
    restored = codecs.decode(name, data, meta, list(shape), "float32")
    assert restored.shape == zeros.shape and not restored.any()



def test_weight_sharing_clusters_the_conv_weights_that_ship(tmp_path) -> None:
    """BatchNorm is folded into the conv before clustering, so the exported conv weights hold
    at most 2**conv_bits distinct values (a BN scale applied after clustering would multiply
    them by the channel count), and the fold keeps what the model computes."""
    import copy
    import json

    import onnx
    from onnx import numpy_helper

    import tinyai
    from tinyai.export import ExportConfig
    from tinyai.models import LeNet5, LeNet5Config
    from tinyai.quantize import fold_batchnorm
    from tinyai.runtime.session import read_packed_weights
    from tinyai.tasks import get_task

    torch.manual_seed(0)
    model = LeNet5(LeNet5Config(channels=(8, 16), hidden=32))
    for bn in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
        bn.running_var.uniform_(0.5, 2.0)  # a per-channel scale the fold must carry
    model.eval()
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(fold_batchnorm(copy.deepcopy(model))(x), model(x), atol=1e-5)
    quantize_(model, WeightSharing(bits=4, conv_bits=3))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    quantize_(model, WeightSharing(bits=4, conv_bits=3, step="convert"))

    fast = ExportConfig(exporter="torchscript")  # seconds; dynamo's first export takes ~30
    artifact = tinyai.export(model.eval(), tmp_path / "art", task=get_task("fashion-mnist"),
                             config=fast)
    graph = onnx.load(str(artifact / "model.onnx"), load_external_data=False).graph
    shipped = {t.name: numpy_helper.to_array(t) for t in graph.initializer if t.raw_data}
    packed = json.loads((artifact / "manifest.json").read_text())["packed_weights"]
    shipped |= read_packed_weights(artifact, packed) if packed else {}
    convs = [n.input[1] for n in graph.node if n.op_type == "Conv"]
    assert len(convs) == 2
    for name in convs:
        weight = shipped[name]
        assert 1 < np.unique(weight[weight != 0]).size <= 8, name
