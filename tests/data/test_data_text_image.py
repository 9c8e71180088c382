"""Tiny Shakespeare and Fashion-MNIST on the real files."""

import gzip
import hashlib
import shutil

import numpy as np
import pytest

from tinyai.data import char_vocab, decode_chars, encode_chars, load_fashion_mnist, load_shakespeare
from tinyai.errors import DataError
from tinyai.paths import fashion_mnist_dir


def test_shakespeare_split_by_position():
    train, val = load_shakespeare("train"), load_shakespeare("val")
    assert (len(train), len(val)) == (1_003_854, 111_540)
    whole = (train + val).encode()
    assert hashlib.md5(whole).hexdigest() == "6fb458f1232090904fb40fe944165e91"
    assert train.startswith("First Citizen:")


def test_char_vocab_round_trip():
    vocab = char_vocab()
    assert len(vocab) == 65 and vocab == sorted(vocab)
    text = load_shakespeare("val")[:500]
    ids = encode_chars(text, vocab)
    assert ids.dtype == np.int64 and decode_chars(ids, vocab) == text
    with pytest.raises(DataError, match="not in the vocabulary"):
        encode_chars("€", vocab)


def test_shakespeare_damaged_gzip(fake_root):
    (fake_root / "tinyshakespeare").mkdir()
    (fake_root / "tinyshakespeare" / "input.txt.gz").write_bytes(b"not gzip at all")
    from tinyai.data.shakespeare import _full_text

    _full_text.cache_clear()
    with pytest.raises(DataError, match=r"input\.txt\.gz is not a valid gzip"):
        load_shakespeare("train")


@pytest.mark.parametrize(("split", "rows"), [("train", 60000), ("test", 10000)])
def test_fashion_mnist_official_splits(split, rows):
    ds = load_fashion_mnist(split)
    assert ds.images.shape == (rows, 28, 28) and ds.images.dtype == np.uint8
    assert np.bincount(ds.labels).tolist() == [rows // 10] * 10
    assert len(ds.label_names) == 10 and ds.label_names[9] == "ankle boot"
    assert 0.27 < ds.images.mean() / 255 < 0.30  # the known mean pixel, ~0.286


def test_fashion_mnist_truncated_file(tmp_path, monkeypatch):
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        shutil.copyfile(fashion_mnist_dir() / name, tmp_path / name)
    raw = gzip.decompress((tmp_path / "train-labels-idx1-ubyte.gz").read_bytes())
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(raw[:-10]))
    monkeypatch.setenv("TINYAI_FASHION_MNIST", str(tmp_path))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\.gz is truncated"):
        load_fashion_mnist("train")
