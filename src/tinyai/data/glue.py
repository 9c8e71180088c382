"""GLUE text tasks: SST-2, CoLA, MRPC, STS-B, from <data root>/glue/.

Splits are the official GLUE files: ``train``, ``dev`` and ``test``. GLUE's test labels
are hidden, so ``dev`` is the held-out evaluation split (report it as the test score);
``test`` comes back unlabelled (``labels=None``) and is good for calibration text. The one
exception is MRPC, whose test labels are public in ``source/msr_paraphrase_test.txt``:
they are attached to MRPC ``test``.

Rows (per PROVENANCE.md): SST-2 67,349/872/1,821; CoLA 8,551/1,043/1,063;
MRPC 3,668/408/1,725; STS-B 5,749/1,500/1,379.

File quirks handled here: SST-2 sentences end in a space before the tab (stripped);
CoLA train/dev have no header and dev has no final newline; MRPC headers start with a
UTF-8 BOM; STS-B is split plainly on tabs (it contains stray quote characters, so a CSV
reader with quoting would merge rows). SST-2 train is gzipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyai.data._files import parse_label, tsv_rows
from tinyai.data.datasets import TextDataset
from tinyai.errors import DataError
from tinyai.paths import data_file

GLUE_TASKS = ("sst2", "cola", "mrpc", "stsb")
SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class _Layout:
    folder: str
    fields: int  # fields per row in train/dev
    header: bool  # train/dev have a header row
    text: int  # column of the (first) sentence in train/dev
    text_b: int | None
    label: int
    test_fields: int
    test_text: int
    test_text_b: int | None
    label_names: tuple[str, ...] | None  # None: regression


_LAYOUTS = {
    "sst2": _Layout("SST-2", 2, True, 0, None, 1, 2, 1, None, ("negative", "positive")),
    "cola": _Layout("CoLA", 4, False, 3, None, 1, 2, 1, None, ("unacceptable", "acceptable")),
    "mrpc": _Layout("MRPC", 5, True, 3, 4, 0, 5, 3, 4, ("not_equivalent", "equivalent")),
    "stsb": _Layout("STS-B", 10, True, 7, 8, 9, 9, 7, 8, None),
}


def _split_path(folder: str, split: str) -> Path:
    name = f"{split}.tsv"
    try:
        return data_file("glue", folder, name)
    except DataError:
        return data_file("glue", folder, name + ".gz")  # large files are gzipped


def load_glue(task: str, split: str) -> TextDataset:
    """One GLUE split as a TextDataset (labels int64, or float32 scores 0-5 for stsb)."""
    if task not in _LAYOUTS:
        raise DataError(f"unknown GLUE task {task!r}; choose one of {', '.join(GLUE_TASKS)}")
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r} for {task}; choose one of {', '.join(SPLITS)}")
    lay = _LAYOUTS[task]
    path = _split_path(lay.folder, split)
    label_names = list(lay.label_names) if lay.label_names else None
    if split == "test":
        rows = tsv_rows(path, lay.test_fields, header=True)
        texts = [r[lay.test_text].strip() for r in rows]
        texts_b = None if lay.test_text_b is None else [r[lay.test_text_b].strip() for r in rows]
        labels = _mrpc_test_labels(rows) if task == "mrpc" else None
        return TextDataset(f"{task}-test", texts, texts_b, labels, label_names)
    rows = tsv_rows(path, lay.fields, header=lay.header)
    kind = float if label_names is None else int
    values = [parse_label(r[lay.label], path, kind) for r in rows]
    labels = np.asarray(values, dtype=np.float32 if kind is float else np.int64)
    texts = [r[lay.text].strip() for r in rows]
    texts_b = None if lay.text_b is None else [r[lay.text_b].strip() for r in rows]
    return TextDataset(f"{task}-{split}", texts, texts_b, labels, label_names)


def _mrpc_test_labels(test_rows: list[list[str]]) -> np.ndarray:
    """MRPC test labels from the public source file, matched on the (#1 ID, #2 ID) pair."""
    path = data_file("glue", "MRPC", "source", "msr_paraphrase_test.txt")
    source = {(r[1], r[2]): parse_label(r[0], path) for r in tsv_rows(path, 5, header=True)}
    try:
        return np.asarray([source[(r[1], r[2])] for r in test_rows], dtype=np.int64)
    except KeyError as exc:
        raise DataError(
            f"{path} has no label for MRPC test pair {exc.args[0]}; "
            "restore both files from shared/data"
        ) from None
