"""GLUE loaders on the real files: counts and labels from PROVENANCE.md, quirks, damage."""

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from tinyai.data import load_glue
from tinyai.errors import DataError

COUNTS = [  # task, split, rows, label counts (None: unlabelled)
    ("sst2", "train", 67349, [29780, 37569]),
    ("sst2", "dev", 872, [428, 444]),
    ("sst2", "test", 1821, None),
    ("cola", "train", 8551, [2528, 6023]),
    ("cola", "dev", 1043, [322, 721]),
    ("cola", "test", 1063, None),
    ("mrpc", "train", 3668, [1194, 2474]),
    ("mrpc", "dev", 408, [129, 279]),
    ("mrpc", "test", 1725, [578, 1147]),  # labels joined from the public source file
]


@pytest.mark.parametrize(("task", "split", "rows", "counts"), COUNTS)
def test_classification_counts_and_labels(task, split, rows, counts):
    ds = load_glue(task, split)
    assert len(ds) == rows
    assert all(t and t == t.strip() for t in ds.texts)
    if counts is None:
        assert ds.labels is None
    else:
        assert ds.labels.dtype == np.int64
        assert np.bincount(ds.labels).tolist() == counts
    assert ds.label_names is not None and len(ds.label_names) == 2


@pytest.mark.parametrize(("split", "rows", "mean"), [("train", 5749, 2.701), ("dev", 1500, 2.364)])
def test_stsb_scores(split, rows, mean):
    ds = load_glue("stsb", split)
    assert len(ds) == rows and len(ds.texts_b) == rows
    assert ds.labels.dtype == np.float32 and ds.label_names is None
    assert ds.labels.min() >= 0 and ds.labels.max() <= 5
    assert ds.labels.mean() == pytest.approx(mean, abs=5e-4)
    test = load_glue("stsb", "test")
    assert len(test) == 1379 and test.labels is None


def test_quirks_are_handled():
    sst = load_glue("sst2", "dev")  # trailing space before the tab
    assert sst.texts[0] == "it 's a charming and often affecting journey ."
    cola = load_glue("cola", "dev")  # no header, no final newline: the last row survives
    assert cola.texts[0] == "The sailors rode the breeze clear of the rocks."
    assert cola.texts[-1] == "John talked to Bill about himself."
    mrpc = load_glue("mrpc", "train")  # BOM header skipped, pairs kept
    assert mrpc.texts[0].startswith("Amrozi accused his brother")
    assert not any("\ufeff" in t for t in mrpc.texts + mrpc.texts_b)
    stsb = load_glue("stsb", "dev")  # stray quotes do not merge rows
    assert stsb.texts[0] == "A man with a hard hat is dancing." and stsb.labels[0] == 5.0


def test_subset_keeps_pairs_and_labels_aligned():
    ds = load_glue("mrpc", "dev")
    sub = ds.subset([3, 0])
    assert sub.texts == [ds.texts[3], ds.texts[0]] and sub.texts_b == [ds.texts_b[3], ds.texts_b[0]]
    assert sub.labels.tolist() == [ds.labels[3], ds.labels[0]]


def _copy(real_root: Path, fake_root: Path, *parts: str) -> Path:
    dst = fake_root.joinpath(*parts)
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(real_root.joinpath(*parts), dst)
    return dst


def test_truncated_gzip_is_a_data_error_naming_the_file(real_root, fake_root):
    src = real_root / "glue" / "SST-2" / "train.tsv.gz"
    dst = fake_root / "glue" / "SST-2" / "train.tsv.gz"
    dst.parent.mkdir(parents=True)
    dst.write_bytes(src.read_bytes()[:50_000])
    with pytest.raises(DataError, match=r"train\.tsv\.gz.*gzip"):
        load_glue("sst2", "train")


def test_wrong_field_count_names_file_and_line(real_root, fake_root):
    path = _copy(real_root, fake_root, "glue", "CoLA", "dev.tsv")
    lines = path.read_text().split("\n")
    lines[9] = lines[9].replace("\t", " ", 1)
    path.write_text("\n".join(lines))
    with pytest.raises(DataError, match=r"dev\.tsv line 10 has 3 tab-separated fields, expected 4"):
        load_glue("cola", "dev")


def test_bad_label_and_missing_file(fake_root):
    path = fake_root / "glue" / "STS-B" / "dev.tsv"
    path.parent.mkdir(parents=True)
    header = "\t".join(["c"] * 10)
    path.write_text(header + "\n" + "\t".join(["x"] * 10) + "\n")
    with pytest.raises(DataError, match=r"dev\.tsv has a bad label 'x'"):
        load_glue("stsb", "dev")
    with pytest.raises(DataError, match=r"missing data file .*MRPC"):
        load_glue("mrpc", "dev")
    with pytest.raises(DataError, match="unknown split"):
        load_glue("sst2", "validation")


def test_gzipped_copy_of_plain_file_is_read(real_root, fake_root):
    src = real_root / "glue" / "CoLA" / "train.tsv"
    dst = fake_root / "glue" / "CoLA" / "train.tsv.gz"
    dst.parent.mkdir(parents=True)
    dst.write_bytes(gzip.compress(src.read_bytes()))
    assert len(load_glue("cola", "train")) == 8551
