"""End to end on real SST-2 slices: a MiniLM teacher (head fine-tuned on a frozen trunk)
labels unlabelled sentences, and the distilled student beats the same student trained on
the labels alone. Also: intermediate-layer distillation and embedding distillation run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tinyai.data import load_glue
from tinyai.distill import (
    DistillConfig,
    FinetuneConfig,
    StudentSpec,
    augment_texts,
    build_student,
    distill,
    finetune,
)
from tinyai.distill.losses import IGNORE
from tinyai.distill.text import TokenizedText
from tinyai.errors import ConfigError
from tinyai.models import SentenceEncoder, TextClassifier, load_encoder, resolve
from tinyai.tasks import get_task
from tinyai.train import TrainConfig

LABELLED, UNLABELLED, DEV = 96, 1200, 300


class BagOfWords(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(30522, 16)
        self.out = nn.Linear(16, 2)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.unsqueeze(-1).float()
        return self.out((self.embed(input_ids) * mask).sum(1) / mask.sum(1).clamp_min(1.0))


@torch.no_grad()
def accuracy(model: nn.Module, tokens: TokenizedText) -> float:
    model.eval()
    hits = sum(int((model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).argmax(-1)
                    == b["labels"]).sum()) for b in tokens.batches(100, shuffle=False))
    return hits / len(tokens)


@pytest.fixture(scope="module")
def teacher() -> nn.Module:
    train = load_glue("sst2", "train").subset(range(256))
    model = TextClassifier(load_encoder("minilm-l6"), num_labels=2, pooling="mean")
    config = FinetuneConfig(train=TrainConfig(epochs=4, lr=3e-2, warmup=0.0, log=False,
                                              batch_size=64),
                            freeze_trunk=True, head="classifier")
    finetune(model, get_task("sst2", max_length=48), config, tokenizer=resolve("minilm-l6"),
             data=train)
    assert not any(p.requires_grad for p in model.encoder.parameters())
    return model.eval()


def test_distilled_student_beats_the_same_student_without_teacher(teacher: nn.Module) -> None:
    tok = resolve("minilm-l6")
    train = load_glue("sst2", "train")
    dev = load_glue("sst2", "dev").subset(range(DEV))
    dev_tokens = TokenizedText.encode(tok, dev.texts, None, dev.labels, 48)
    labelled = train.subset(range(1000, 1000 + LABELLED))
    extra = [train.texts[i] for i in range(2000, 2000 + UNLABELLED)]
    texts = labelled.texts + extra
    labels = np.concatenate([labelled.labels, np.full(len(extra), IGNORE)])
    plain = BagOfWords()  # the same student and step count, labels only
    finetune(plain, get_task("sst2", max_length=48),
             FinetuneConfig(train=TrainConfig(steps=114, lr=2e-2, log=False, batch_size=32)),
             tokenizer=tok, data=labelled)
    student = BagOfWords()
    data = TokenizedText.encode(tok, texts, None, labels, 48)
    distill(student, teacher, data, DistillConfig(
        train=TrainConfig(steps=114, lr=2e-2, log=False, batch_size=64), temperature=2.0,
        alpha=0.7))
    t_acc, s_acc, p_acc = (accuracy(m, dev_tokens) for m in (teacher, student, plain))
    print(f"teacher {t_acc:.3f} distilled {s_acc:.3f} labels-only {p_acc:.3f}")
    assert t_acc > 0.65
    assert s_acc > p_acc + 0.03, (t_acc, s_acc, p_acc)


def test_tinybert_layer_losses_train_a_narrow_student(teacher: nn.Module) -> None:
    student = build_student(teacher, StudentSpec(layers=(1, 4), hidden_size=192,
                                                 intermediate_size=384))
    before = student.encoder.encoder.layer[0].output.dense.weight.clone()
    texts = augment_texts(load_glue("sst2", "train").texts[:40])
    config = DistillConfig(train=TrainConfig(steps=3, lr=1e-3, log=False, batch_size=16),
                           layer_weight=1.0, attention=True, alpha=1.0)
    from tinyai.distill import use_eager_attention

    use_eager_attention(student)
    use_eager_attention(teacher)
    distill(student, teacher, texts, config, tokenizer=resolve("minilm-l6"), max_length=32)
    assert not torch.equal(before, student.encoder.encoder.layer[0].output.dense.weight)
    assert not student.encoder.encoder.layer[0]._forward_hooks  # taps removed afterwards


def test_embedding_distillation_needs_no_labels(tmp_path) -> None:
    teacher = SentenceEncoder(load_encoder("minilm-l6")).eval()
    student = build_student(teacher, StudentSpec(layers=(0,), hidden_size=128,
                                                 keep_pooler=False))
    texts = load_glue("stsb", "train").texts[:96]
    config = DistillConfig(train=TrainConfig(steps=4, lr=1e-3, log=False, batch_size=32),
                           objective="embedding", similarity_weight=1.0,
                           cache_dir=str(tmp_path))
    import tinyai

    tinyai.distill(student, teacher, texts, config, tokenizer=resolve("minilm-l6"),  # public verb
                   max_length=32)
    cached = list(tmp_path.glob("teacher-*.safetensors"))
    assert len(cached) == 1  # teacher vectors were computed once and kept
    batch = TokenizedText.encode(resolve("minilm-l6"), texts[:2]).collate([0, 1])
    out = student(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    assert out.shape == (2, 128)


def test_teacher_reads_the_text_with_its_own_tokenizer(tmp_path) -> None:
    """A reduced-vocabulary student: the cached teacher outputs must be the teacher's own
    view of each sentence, not the student's token ids fed to the teacher."""
    from safetensors.torch import load_file

    from tinyai.distill import reduce_vocab

    teacher = SentenceEncoder(load_encoder("minilm-l6")).eval()
    texts = load_glue("stsb", "train").texts[:48]
    vocab = reduce_vocab(resolve("minilm-l6"), texts, tmp_path / "vocab", max_size=600)
    student = build_student(teacher, StudentSpec(layers=(0,), kept_vocab=tuple(vocab.kept_ids)))
    config = DistillConfig(train=TrainConfig(steps=1, log=False, batch_size=16),
                           objective="embedding", cache_dir=str(tmp_path / "cache"))
    distill(student, teacher, texts, config, tokenizer=vocab.tokenizer_dir,
            teacher_tokenizer=resolve("minilm-l6"), max_length=32)
    (cached,) = (tmp_path / "cache").glob("teacher-*.safetensors")
    own = TokenizedText.encode(resolve("minilm-l6"), texts[:4], max_length=32).collate(range(4))
    with torch.no_grad():
        expected = teacher(input_ids=own["input_ids"], attention_mask=own["attention_mask"])
    outputs = load_file(str(cached))["outputs"]
    torch.testing.assert_close(outputs[:4], expected, atol=1e-5, rtol=1e-4)
    with pytest.raises(ConfigError, match="raw text"):
        distill(student, teacher, TokenizedText.encode(vocab.tokenizer_dir, texts), config,
                tokenizer=vocab.tokenizer_dir, teacher_tokenizer=resolve("minilm-l6"))
