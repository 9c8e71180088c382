"""Reference models: contract shapes, safetensors round trips (also after structured pruning)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from tinyai.errors import ModelError
from tinyai.models import (
    CharLM,
    CharLMConfig,
    CharTransformer,
    CharTransformerConfig,
    FashionCNN,
    FashionCNNConfig,
    KwsDSCNN,
    KwsDSCNNConfig,
    KwsResNet,
    KwsResNetConfig,
    LeNet5,
    LeNet5Config,
    LeNet300100,
    LeNet300100Config,
    load_model,
    save_model,
)

TINY_GPT = CharTransformerConfig(n_layer=2, n_head=2, n_embd=16, block_size=32, seq_len=16)
RES_DW = FashionCNNConfig(residual=True, depthwise=True)
NO_BN = FashionCNNConfig(batchnorm=False, channels=(8, 16))

# (id, model factory, expected output shape for example_inputs(batch_size=2))
MODELS = [
    ("fashion-cnn", lambda: FashionCNN(), (2, 10)),
    ("fashion-cnn-res-dw", lambda: FashionCNN(RES_DW), (2, 10)),
    ("fashion-cnn-no-bn", lambda: FashionCNN(NO_BN), (2, 10)),
    ("lenet-300-100", lambda: LeNet300100(), (2, 10)),
    ("lenet-5", lambda: LeNet5(), (2, 10)),
    ("kws-ds-cnn", lambda: KwsDSCNN(), (2, 12)),
    ("kws-resnet", lambda: KwsResNet(KwsResNetConfig(channels=8, blocks=2)), (2, 12)),
    ("char-gru", lambda: CharLM(CharLMConfig(seq_len=16)), (2, 16, 65)),
    ("char-lstm", lambda: CharLM(CharLMConfig(cell="lstm", num_layers=1, seq_len=16)), (2, 16, 65)),
    ("char-transformer", lambda: CharTransformer(TINY_GPT), (2, 16, 65)),
]  # fmt: skip


def _perturb_batchnorm(model: nn.Module) -> None:
    # Fresh BatchNorm has mean 0 / var 1; non-trivial statistics prove buffers round-trip too.
    gen = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=gen))
            module.running_var.copy_(torch.rand(module.num_features, generator=gen) + 0.5)


@pytest.mark.parametrize(("name", "make", "shape"), MODELS, ids=[m[0] for m in MODELS])
def test_round_trip_gives_identical_outputs(tmp_path: Path, name: str, make, shape) -> None:
    model = make().eval()
    _perturb_batchnorm(model)
    inputs = model.example_inputs(batch_size=2)
    assert list(inputs) == list(model.input_names)
    with torch.no_grad():
        expected = model(**inputs)
    assert tuple(expected.shape) == shape

    save_model(model, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "config.json",
        "model.safetensors",
        "structure.json",
    ]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["_type"] == type(model.config).__name__

    loaded = load_model(tmp_path)
    assert type(loaded) is type(model) and not loaded.training
    assert loaded.config == model.config
    with torch.no_grad():
        assert torch.equal(loaded(**inputs), expected)


def _prune_channels(
    model: nn.Module, inputs: dict[str, torch.Tensor], keep_last: nn.Module
) -> None:
    import torch_pruning as tp

    example = next(iter(inputs.values()))
    pruner = tp.pruner.MagnitudePruner(
        model,
        example,
        importance=tp.importance.MagnitudeImportance(p=2),
        pruning_ratio=0.5,
        ignored_layers=[keep_last],
    )
    pruner.step()


PRUNABLE = [
    ("fashion-cnn-res-dw", lambda: FashionCNN(FashionCNNConfig(residual=True, depthwise=True))),
    ("lenet-300-100", lambda: LeNet300100()),
    ("lenet-5", lambda: LeNet5()),
    ("kws-ds-cnn", lambda: KwsDSCNN()),
]


@pytest.mark.parametrize(("name", "make"), PRUNABLE, ids=[m[0] for m in PRUNABLE])
def test_structurally_pruned_models_round_trip(tmp_path: Path, name: str, make) -> None:
    model = make().eval()
    inputs = model.example_inputs(batch_size=2)
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    params_before = sum(p.numel() for p in model.parameters())
    _prune_channels(model, inputs, last)
    assert sum(p.numel() for p in model.parameters()) < params_before
    with torch.no_grad():
        expected = model(**inputs)

    save_model(model, tmp_path)
    loaded = load_model(tmp_path)
    with torch.no_grad():
        assert torch.equal(loaded(**inputs), expected)
    # The config tells the truth about the pruned widths, not the original ones.
    widths = getattr(loaded.config, "channels", None) or loaded.config.hidden
    assert widths == (getattr(model.config, "channels", None) or model.config.hidden)
    assert max(widths) < max(getattr(make().config, "channels", None) or make().config.hidden)


def test_configs_reject_invalid_values() -> None:
    with pytest.raises(ValueError, match="channels"):
        FashionCNNConfig(channels=())
    with pytest.raises(ValueError, match="cell"):
        CharLMConfig(cell="rnn")
    with pytest.raises(ValueError, match="dropout"):
        LeNet300100Config(dropout=1.5)
    with pytest.raises(ValueError, match="first_kernel"):
        KwsDSCNNConfig(first_kernel=(10,))
    with pytest.raises(ValueError, match="blocks"):
        KwsResNetConfig(blocks=0)
    with pytest.raises(ValueError, match="multiple of n_head"):
        CharTransformerConfig(n_embd=30, n_head=4)
    with pytest.raises(ValueError, match="block_size"):
        CharTransformerConfig(block_size=64, seq_len=128)
    with pytest.raises(ValueError, match="two widths"):
        LeNet5Config(channels=(8, 16, 32))
    with pytest.raises(ValueError, match="multiple of 4"):
        LeNet5Config(image_size=30)


def test_lenet5_pruned_hidden_width_round_trips(tmp_path: Path) -> None:
    # The hidden width is a config field of its own: a model pruned there reloads as itself.
    model = LeNet5(LeNet5Config(channels=(4, 8), hidden=32)).eval()
    inputs = model.example_inputs(batch_size=2)
    _prune_channels(model, inputs, model.classifier[-1])
    assert model.classifier[1].in_features == model.features[1][0].out_channels * 7 * 7
    with torch.no_grad():
        expected = model(**inputs)
    loaded = load_model(save_model(model, tmp_path))
    assert loaded.config.channels == (2, 4) and loaded.config.hidden == 16
    with torch.no_grad():
        assert torch.equal(loaded(**inputs), expected)


def test_unknown_config_type_is_refused(tmp_path: Path) -> None:
    save_model(LeNet300100(LeNet300100Config(hidden=(8,))), tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"_type": "Popen", "args": ["true"]}))
    with pytest.raises(ModelError, match="unknown config type 'Popen'"):
        load_model(tmp_path)


def test_save_model_refuses_foreign_modules(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="save_model saves tinyai models"):
        save_model(nn.Linear(2, 2), tmp_path)


def test_half_precision_checkpoint_stays_half(tmp_path: Path) -> None:
    model = LeNet300100(LeNet300100Config(hidden=(16,))).half()
    save_model(model, tmp_path)
    assert load_model(tmp_path).layers[1].weight.dtype == torch.float16


def test_mlperf_sized_ds_cnn_and_a_larger_teacher() -> None:
    # DS-CNN-S at 64 channels: about MLPerf Tiny's 23,756 parameters; the teacher is ~5x that
    student = sum(p.numel() for p in KwsDSCNN().parameters())
    teacher = sum(p.numel() for p in KwsResNet().parameters())
    assert 22_000 < student < 24_000 and teacher > 5 * student


CHAR_MODELS = [
    ("gru", lambda: CharLM(CharLMConfig(hidden_size=24, embed_dim=8, num_layers=2))),
    ("lstm", lambda: CharLM(CharLMConfig(cell="lstm", hidden_size=24, embed_dim=8))),
    ("transformer", lambda: CharTransformer(TINY_GPT)),
]


@pytest.mark.parametrize(("name", "make"), CHAR_MODELS, ids=[m[0] for m in CHAR_MODELS])
def test_char_models_continue_from_their_state(name: str, make) -> None:
    """Reading a text in pieces, state passed along, gives the logits of reading it at once."""
    torch.manual_seed(0)
    model = make().eval()
    ids = torch.randint(0, 65, (3, 30))
    with torch.no_grad():
        whole = model(ids)
        feed = model.initial_state(batch_size=3)
        pieces = []
        for start, end in ((0, 1), (1, 17), (17, 30)):
            logits, feed["state"] = model(ids[:, start:end], **feed)
            if "position" in feed:
                feed["position"] = torch.tensor(end)
            pieces.append(logits)
    torch.testing.assert_close(torch.cat(pieces, dim=1), whole, atol=1e-5, rtol=1e-5)
    assert feed["state"].shape[0] == 3  # batch-first, so a search can fork rows
