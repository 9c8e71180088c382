"""What a model directory promises besides the weights: the tokenizer and history it was
given survive load -> save, it is recognisable (`is_model_dir`), it never replaces what
tinyai did not write, and every damaged or foreign directory is refused in one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from tinyai.errors import ConfigError, ModelError
from tinyai.history import Step, read_history
from tinyai.models import (
    FashionCNN,
    FashionCNNConfig,
    is_model_dir,
    load_model,
    load_tokenizer,
    resolve,
    save_model,
)


def _cnn() -> FashionCNN:
    torch.manual_seed(0)
    return FashionCNN(FashionCNNConfig(channels=(4, 8))).eval()


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """(a distilled student with a 300-row vocabulary, the directory of its tokenizer)."""
    from transformers import BertConfig, BertModel

    from tinyai.distill.students import StudentSpec, build_student
    from tinyai.distill.vocab import reduce_vocab
    from tinyai.models import TextClassifier

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64,
    )  # fmt: skip
    teacher = TextClassifier(BertModel(config), num_labels=2).eval()
    vocab_dir = tmp_path_factory.mktemp("vocab")
    texts = ["a gripping, funny film", "dull and far too long", "the cast is superb"]
    vocab = reduce_vocab(resolve("minilm-l6"), texts, vocab_dir, max_size=300)
    spec = StudentSpec(kept_vocab=tuple(vocab.kept_ids), embedding_size=16)
    return build_student(teacher, spec).eval(), vocab_dir


def test_load_then_save_keeps_the_students_own_tokenizer(student, tmp_path):
    model, vocab_dir = student
    size = len(load_tokenizer(vocab_dir))
    assert size < 1000
    save_model(model, tmp_path / "a", tokenizer=vocab_dir)
    save_model(load_model(tmp_path / "a"), tmp_path / "b")  # what `tinyai prune` does
    assert len(load_tokenizer(tmp_path / "b")) == size
    enc = load_tokenizer(tmp_path / "b")(["a funny film"], return_tensors="pt")
    with torch.no_grad():
        load_model(tmp_path / "b")(enc["input_ids"], enc["attention_mask"])


def test_a_tokenizer_larger_than_the_embedding_is_refused(student, tmp_path):
    model, _ = student
    with pytest.raises(ModelError, match="has 30,522 tokens but the model's embedding only"):
        save_model(model, tmp_path / "m", tokenizer=resolve("minilm-l6"))
    assert not (tmp_path / "m").exists()


def test_no_tokenizer_sneaks_in_from_where_the_encoder_was_first_loaded(student, tmp_path):
    model, _ = student
    save_model(model, tmp_path / "a")  # no tokenizer given, none guessed that fits
    assert not (tmp_path / "a" / "tokenizer.json").exists()
    loaded = load_model(tmp_path / "a")
    loaded.encoder.config._name_or_path = str(resolve("minilm-l6"))  # as a fresh student's
    save_model(loaded, tmp_path / "b")
    assert not (tmp_path / "b" / "tokenizer.json").exists()


def test_history_is_written_read_and_carried_through_load_and_save(tmp_path):
    steps = [Step("build", "model", source="fashion-cnn"), Step("int8-static", "quantize")]
    save_model(_cnn(), tmp_path / "a", history=steps)
    assert read_history(tmp_path / "a") == steps
    save_model(load_model(tmp_path / "a"), tmp_path / "b")
    assert read_history(tmp_path / "b") == steps
    more = [*steps, Step("export", "export")]
    save_model(load_model(tmp_path / "b"), tmp_path / "c", history=more)
    assert read_history(tmp_path / "c") == more


def test_history_in_another_shape_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="unknown key"):
        save_model(_cnn(), tmp_path / "m", history=[{"stage": "int8"}])


def test_is_model_dir_means_exactly_what_save_model_wrote(tmp_path):
    out = save_model(_cnn(), tmp_path / "m", history=[Step("build", "model")])
    assert is_model_dir(out)
    (out / "notes.txt").write_text("mine")
    assert not is_model_dir(out)
    (out / "notes.txt").unlink()
    (out / "history.json").unlink()
    assert not is_model_dir(out)
    assert not is_model_dir(tmp_path) and not is_model_dir(tmp_path / "missing")


def test_save_replaces_a_model_dir_but_nothing_tinyai_did_not_write(tmp_path):
    save_model(_cnn(), tmp_path / "m", history=[Step("build", "model")])
    torch.manual_seed(1)
    other = FashionCNN(FashionCNNConfig(channels=(6, 8))).eval()
    save_model(other, tmp_path / "m")
    assert load_model(tmp_path / "m").config.channels == (6, 8)
    assert not (tmp_path / "m" / "history.json").exists()  # nothing left of the old model
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no staging left behind
    # Another folder gets the model's files added beside its own, never over them.
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    save_model(other, tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "mine"
    assert load_model(tmp_path / "mine").config.channels == (6, 8)
    assert not is_model_dir(tmp_path / "mine")
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "config.json").write_text("{}")
    with pytest.raises(ModelError, match="not a tinyai model directory and already holds"):
        save_model(other, tmp_path / "theirs")
    assert sorted(p.name for p in (tmp_path / "theirs").iterdir()) == ["config.json"]


def test_an_unconverted_quantization_is_refused_at_save(tmp_path):
    from tinyai.quantize import Int8Static, quantize_

    model = quantize_(_cnn(), Int8Static(step="prepare"))
    with pytest.raises(ModelError, match=r"would not be rebuilt on load.*step='convert'"):
        save_model(model, tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_tied_tensors_are_stored_once_and_come_back_tied(tmp_path):
    from tinyai.models.dir.weights import read_weights, write_weights

    shared = torch.randn(64, 32)
    write_weights({"a": shared, "b": shared, "c": torch.zeros(5)}, tmp_path / "w.safetensors")
    from safetensors import safe_open

    with safe_open(str(tmp_path / "w.safetensors"), framework="pt") as f:
        assert sorted(f.keys()) == ["a", "c"]
    state = read_weights(tmp_path / "w.safetensors")
    assert list(state) == ["a", "b", "c"] and torch.equal(state["b"], shared)


def _edit_structure(path: Path, change) -> None:
    data = json.loads((path / "structure.json").read_text())
    change(data)
    (path / "structure.json").write_text(json.dumps(data))


def _unknown_record(path: Path) -> None:
    _edit_structure(path, lambda d: d["records"].append({"type": "pickled-module"}))


def _newer_format(path: Path) -> None:
    _edit_structure(path, lambda d: d.update(format_version=99))


def _not_json(path: Path) -> None:
    (path / "structure.json").write_text("{")


def _old_pruned_format(path: Path) -> None:
    (path / "structure.json").unlink()
    (path / "pruning.json").write_text("{}")


def _no_weights(path: Path) -> None:
    (path / "model.safetensors").unlink()


def _weights_of_another_model(path: Path) -> None:
    from tinyai.models import LeNet300100

    other = save_model(LeNet300100(), path.parent / "other")
    shutil.copy(other / "model.safetensors", path / "model.safetensors")


def _foreign_record(path: Path) -> None:
    layers = [{"name": "classifier.3", "class": "os.system", "meta": {}}]
    _edit_structure(path, lambda d: d["records"].append({"type": "quantized-layers",
                                                         "layers": layers}))  # fmt: skip


BAD = [
    ("unknown-record", _unknown_record, "unknown type 'pickled-module'"),
    ("foreign-class", _foreign_record, "'os.system' is not a quantized layer class"),
    ("newer-format", _newer_format, "format version 99.*upgrade tinyai"),
    ("not-json", _not_json, "cannot read .*structure.json"),
    ("old-format", _old_pruned_format, "older tinyai.*pruning.json"),
    ("no-weights", _no_weights, "has no model.safetensors"),
    ("other-weights", _weights_of_another_model, "does not match config.json and structure"),
]


@pytest.mark.parametrize(
    ("damage", "message"), [(d, m) for _, d, m in BAD], ids=[b[0] for b in BAD]
)
def test_damaged_directories_are_refused_in_one_line(tmp_path, damage, message):
    out = save_model(_cnn(), tmp_path / "m")
    damage(out)
    with pytest.raises(ModelError, match=message) as err:
        load_model(out)
    assert "\n" not in str(err.value)
