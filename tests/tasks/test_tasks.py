"""Every task through the same generic checks, on real data, plus per-kind specifics."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from tinyai.errors import ConfigError, DataError
from tinyai.tasks import TASK_NAMES, get_task
from tinyai.tasks.text import load_tokenizer

KINDS = {
    "sst2": "text-classification",
    "cola": "text-classification",
    "mrpc": "text-classification",
    "stsb": "text-regression",
    "stsb-embed": "sentence-embedding",
    "fashion-mnist": "image-classification",
    "speech-commands": "audio-classification",
    "shakespeare": "char-lm",
}
TEXT = {"sst2", "cola", "mrpc", "stsb", "stsb-embed"}


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


def _task(name, tokenizer):
    if name in TEXT:
        return get_task(name, tokenizer=tokenizer)
    if name == "speech-commands":
        return get_task(name, classes=["yes", "no"])  # keeps the first decode short
    return get_task(name)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_task_contract(name, tokenizer):
    task = _task(name, tokenizer)
    assert task.name == name and task.kind == KINDS[name]
    assert task.eval_split in task.splits and task.train_split in task.splits
    batches = list(
        zip(range(2), task.batches(task.eval_split, 5, shuffle=True, seed=1), strict=False)
    )
    batch = batches[0][1]
    assert set(task.input_names) <= set(batch) and "labels" in batch
    assert set(task.model_inputs(batch)) == set(task.input_names)
    rows = 10 if name == "stsb-embed" else 5
    assert all(batch[k].shape[0] == rows for k in task.input_names)
    assert len(batch["labels"]) == 5
    for key in ("input_ids", "attention_mask"):
        if key in batch:
            assert batch[key].dtype == torch.int64
    example = task.example_inputs(batch_size=2)
    assert set(example) == set(task.input_names)
    assert all(v.shape[0] in (2, 4) for v in example.values())
    json.dumps(task.preprocessing())
    json.dumps(task.describe())
    again = next(task.batches(task.eval_split, 5, shuffle=True, seed=1))
    for k in batch:
        assert torch.equal(batch[k], again[k]), "shuffling must be reproducible from the seed"


@pytest.mark.parametrize("name", ["sst2", "mrpc", "stsb-embed"])
def test_dynamic_padding_and_truncation(name, tokenizer):
    task = get_task(name, tokenizer=tokenizer, max_length=16)
    for batch in task.batches("dev", 8):
        mask = batch["attention_mask"]
        assert mask.shape[1] == int(mask.sum(dim=1).max()) <= 16  # padded to the longest only
        assert (batch["input_ids"][mask == 0] == tokenizer.pad_token_id).all()
        assert (batch["input_ids"][:, 0] == tokenizer.cls_token_id).all()
        break


def test_pairs_are_joined_for_mrpc_and_separate_for_stsb_embed(tokenizer):
    sep = tokenizer.sep_token_id
    mrpc = next(get_task("mrpc", tokenizer=tokenizer).batches("dev", 2))
    assert ((mrpc["input_ids"] == sep).sum(dim=1) == 2).all()
    emb_task = get_task("stsb-embed", tokenizer=tokenizer)
    emb = next(emb_task.batches("dev", 2))
    assert ((emb["input_ids"] == sep).sum(dim=1) == 1).all()
    ds = emb_task.dataset("dev")
    first_b = tokenizer(ds.texts_b[0])["input_ids"]
    assert emb["input_ids"][2, : len(first_b)].tolist() == first_b


def test_classification_loss_predictions_metrics(tokenizer):
    task = get_task("cola", tokenizer=tokenizer)
    labels = task.dataset("dev").labels
    perfect = np.eye(2)[labels] * 5
    assert task.metrics(perfect, labels) == {"accuracy": 1.0, "matthews": 1.0}
    batch = next(task.batches("dev", 4))
    good = torch.nn.functional.one_hot(batch["labels"], 2).float() * 5
    assert task.loss(good, batch) < task.loss(-good, batch)
    assert "f1" in get_task("mrpc", tokenizer=tokenizer).metrics(perfect, labels)


def test_sentence_embedding_predictions_are_cosines(tokenizer):
    task = get_task("stsb-embed", tokenizer=tokenizer)
    batch = next(task.batches("dev", 3))
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    b = torch.tensor([[2.0, 0.0], [1.0, 0.0], [-1.0, -1.0]])
    outputs = torch.cat([a, b])
    np.testing.assert_allclose(task.predictions(outputs, batch), [1.0, 0.0, -1.0], atol=1e-6)
    target = batch["labels"] / 5
    assert task.loss(outputs, batch) == pytest.approx(
        float(((torch.tensor([1.0, 0.0, -1.0]) - target) ** 2).mean()), rel=1e-5
    )
    scores = task.dataset("dev").labels
    assert task.metrics(scores / 5, scores)["spearman"] == pytest.approx(1.0)


def test_regression_task(tokenizer):
    task = get_task("stsb", tokenizer=tokenizer)
    batch = next(task.batches("dev", 4))
    assert batch["labels"].dtype == torch.float32
    outputs = batch["labels"].reshape(4, 1).clone()
    assert float(task.loss(outputs, batch)) == 0.0
    assert task.predictions(outputs).shape == (4,)
    assert task.metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]))["spearman"] == 1.0


def test_test_split_has_no_labels(tokenizer):
    batch = next(get_task("sst2", tokenizer=tokenizer).batches("test", 4))
    assert "labels" not in batch


def test_char_lm_windows_and_metric():
    task = get_task("shakespeare", seq_len=32)
    ds = task.dataset("val")
    assert len(ds) == (111_540 - 1) // 32
    batch = next(task.batches("val", 3))
    assert batch["input_ids"].shape == (3, 32)
    assert torch.equal(batch["input_ids"][:, 1:], batch["labels"][:, :-1])
    assert torch.equal(batch["labels"][0, -1:], batch["input_ids"][1, :1])  # windows tile the text
    uniform = task.metrics(np.zeros((3, 32, task.vocab_size)), batch["labels"].numpy())
    assert uniform["bits_per_char"] == pytest.approx(np.log2(65))
    assert task.higher_is_better is False and task.preprocessing()["vocab"] == task.vocab
    logits = torch.zeros(3, 32, 65)
    assert float(task.loss(logits, batch)) == pytest.approx(np.log(65), rel=1e-5)
    assert len(ds.subset([0, 2])) == 2


def test_image_task_normalises_like_the_runtime():
    task = get_task("fashion-mnist")
    batch = next(task.batches("test", 2))
    images = task.dataset("test").images[:2]
    expected = (images / 255.0 - 0.2860) / 0.3530
    np.testing.assert_allclose(batch["pixel_values"][:, 0].numpy(), expected, rtol=1e-5)


def test_image_batches_are_row_major_not_channels_last():
    # One-channel NHWC transposed to NCHW keeps strides torch reads as channels_last; with
    # them torch 2.13's oneDNN conv backward corrupts the heap on AVX2-only CPUs (a pruned
    # ResNet's stride-2 1x1 shortcut). Task batches must hand out plain row-major tensors.
    task = get_task("fashion-mnist")
    batch = next(task.batches(task.dataset("train"), 4))
    pixels = batch["pixel_values"]
    assert pixels.shape == (4, 1, 28, 28) and pixels.stride() == (784, 784, 28, 1)
    assert task.example_inputs(2)["pixel_values"].stride() == (784, 784, 28, 1)
    conv = torch.nn.Conv2d(1, 4, 3)
    assert conv(pixels).is_contiguous()  # not channels_last all the way down


def test_audio_task_features_match_on_the_fly():
    task = get_task("speech-commands", classes=["yes", "no"])
    cached = next(task.batches("val", 4))  # from the split's precomputed features
    fly = next(task.batches(task.dataset("val"), 4))  # a dataset object: computed per batch
    assert cached["features"].shape == (4, 49, 10)  # MLPerf Tiny's 49 x 10 MFCCs by default
    torch.testing.assert_close(cached["features"], fly["features"])
    assert task.label_names == ["yes", "no"] and task.preprocessing()["frames"] == 49


def test_unknown_task_split_and_option():
    with pytest.raises(ConfigError, match="unknown task 'imagenet'"):
        get_task("imagenet")
    with pytest.raises(ConfigError, match="bad option for task fashion-mnist"):
        get_task("fashion-mnist", tokenizer="x")
    with pytest.raises(DataError, match="no split 'val'"):
        get_task("fashion-mnist").dataset("val")


def test_numpy_path_works_without_torch():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import numpy as np\n"
        "from tinyai.tasks import get_task\n"
        "t = get_task('fashion-mnist')\n"
        "b = next(t.numpy_batches('test', 8))\n"
        "print(t.metrics(np.eye(10)[b['labels']], b['labels'])['accuracy'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1.0"
