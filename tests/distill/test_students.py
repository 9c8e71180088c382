"""Students built from the packaged MiniLM: shapes, carried-over weights, vocabulary remap."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tinyai.data import load_glue
from tinyai.distill import StudentSpec, build_student, reduce_vocab, shrink_bert
from tinyai.distill.students import FactorizedEmbedding, count_parameters
from tinyai.distill.text import TokenizedText
from tinyai.models import TextClassifier, load_encoder, resolve


@pytest.fixture(scope="module")
def bert() -> torch.nn.Module:
    return load_encoder("minilm-l6").eval()


@pytest.fixture(scope="module")
def batch() -> dict[str, torch.Tensor]:
    texts = load_glue("sst2", "dev").texts[:4]
    tokens = TokenizedText.encode(resolve("minilm-l6"), texts, max_length=32)
    return tokens.collate([0, 1, 2, 3])


def run(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
                     ).last_hidden_state


def test_same_shape_student_is_an_exact_copy(bert, batch) -> None:
    student = shrink_bert(bert, StudentSpec())
    torch.testing.assert_close(run(student, batch), run(bert, batch))


def test_kept_layers_carry_their_weights(bert, batch) -> None:
    student = shrink_bert(bert, StudentSpec(layers=(0, 2, 4)))
    assert student.config.num_hidden_layers == 3
    for new, old in enumerate((0, 2, 4)):
        torch.testing.assert_close(student.encoder.layer[new].output.dense.weight,
                                   bert.encoder.layer[old].output.dense.weight)
    assert count_parameters(student) < count_parameters(bert) - 3 * 1_700_000


def test_narrow_student_slices_dims_heads_and_ffn(bert, batch) -> None:
    spec = StudentSpec(layers=(1, 4), hidden_size=256, intermediate_size=512,
                       max_position_embeddings=64)
    student = shrink_bert(bert, spec)
    cfg = student.config
    assert (cfg.hidden_size, cfg.num_attention_heads, cfg.intermediate_size) == (256, 8, 512)
    assert run(student, batch).shape == (4, batch["input_ids"].shape[1], 256)
    # every kept weight is a sub-matrix of the teacher's: its rows appear in the teacher
    new_q = student.encoder.layer[0].attention.self.query.weight
    old_q = bert.encoder.layer[1].attention.self.query.weight
    dims = _matching_columns(student.embeddings.LayerNorm.weight, bert.embeddings.LayerNorm.weight)
    rows = [(old_q[:, dims] - row).abs().sum(1).argmin().item() for row in new_q[:5]]
    torch.testing.assert_close(new_q[:5], old_q[rows][:, dims])


def _matching_columns(new: torch.Tensor, old: torch.Tensor) -> list[int]:
    return [int((old - v).abs().argmin()) for v in new]


def test_full_ffn_slice_is_exact_and_factorized_embeddings_approximate(bert, batch) -> None:
    spec = StudentSpec(intermediate_size=bert.config.intermediate_size)
    torch.testing.assert_close(run(shrink_bert(bert, spec), batch), run(bert, batch))
    table = bert.embeddings.word_embeddings.weight[:3000]  # a slice keeps the SVD quick
    errors = []
    for rank in (32, 192):
        small = shrink_bert(bert, StudentSpec(embedding_size=rank, kept_vocab=tuple(range(3000))))
        emb = small.embeddings.word_embeddings
        assert isinstance(emb, FactorizedEmbedding)
        with torch.no_grad():
            errors.append(float((emb.weight - table).norm() / table.norm()))
    assert errors[1] < errors[0] < 1.0


def test_build_student_resizes_the_task_head(bert, batch) -> None:
    teacher = TextClassifier(bert, num_labels=2, pooling="mean")
    student = build_student(teacher, StudentSpec(layers=(0,), hidden_size=128))
    assert student.classifier.in_features == 128
    logits = student(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    assert logits.shape == (4, 2)
    assert teacher.encoder.config.num_hidden_layers == 6  # the teacher is untouched


def test_reduced_vocab_remaps_rows_and_retokenizes_unseen_words(bert, tmp_path: Path) -> None:
    corpus = load_glue("sst2", "dev").texts[:200]
    vocab = reduce_vocab(resolve("minilm-l6"), corpus, tmp_path / "vocab")
    assert 500 < vocab.size < 5000
    old = TokenizedText.encode(resolve("minilm-l6"), corpus[:8], max_length=64)
    new = TokenizedText.encode(vocab.tokenizer_dir, corpus[:8], max_length=64)
    kept = torch.tensor(vocab.kept_ids)
    for a, b in zip(old.ids, new.ids, strict=True):  # corpus words: same pieces, new ids
        assert kept[torch.from_numpy(b)].tolist() == a.tolist()
    student = shrink_bert(bert, StudentSpec(kept_vocab=tuple(vocab.kept_ids)))
    assert student.config.vocab_size == vocab.size
    torch.testing.assert_close(run(student, new.collate(range(8))),
                               run(bert, old.collate(range(8))))
    unseen = TokenizedText.encode(vocab.tokenizer_dir, ["zygomorphic xylophones"], max_length=32)
    unk = vocab.kept_ids.index(100)  # [UNK] in the original vocabulary
    assert unk not in unseen.ids[0].tolist() and len(unseen.ids[0]) > 4


def test_capped_vocab_keeps_specials_and_characters(tmp_path: Path) -> None:
    corpus = load_glue("sst2", "dev").texts[:200]
    vocab = reduce_vocab(resolve("minilm-l6"), corpus, tmp_path / "v", max_size=400)
    assert vocab.size == 400
    assert {0, 100, 101, 102, 103} <= set(vocab.kept_ids)
