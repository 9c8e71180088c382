"""Loaders for the user's own data: a text table, a folder of wavs, a folder of images.

Folder layouts are one sub-folder per class (``root/<class>/<file>``); classes are the
sub-folder names sorted, so label ids are stable. No split is made here: pass separate
folders/files for train and evaluation, or use ``dataset.subset(indices)``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from tinyai.data._files import decode_wav, open_image, read_text
from tinyai.data.datasets import AudioDataset, ImageDataset, TextDataset
from tinyai.data.speech_commands import CLIP_SAMPLES, speaker_of
from tinyai.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def load_text_table(
    path: str | Path,
    text_column: str = "text",
    label_column: str | None = "label",
    text_b_column: str | None = None,
    regression: bool = False,
    label_names: list[str] | None = None,
) -> TextDataset:
    """A .tsv (tab, no quoting) or .csv (comma, standard quoting) file with a header row.

    Labels may be integers (class ids) or strings (mapped to ids in `label_names`, or in
    sorted order when not given); with ``regression=True`` they are float scores.
    ``label_column=None`` loads unlabelled text.
    """
    path = Path(path)
    reader, rows = read_table(path)
    wanted = [c for c in (text_column, label_column, text_b_column) if c]
    missing = [c for c in wanted if c not in (reader.fieldnames or [])]
    if missing:
        raise DataError(
            f"{path} has no column(s) {', '.join(missing)} (header: {reader.fieldnames}); "
            "pass text_column=/label_column= naming the right columns"
        )
    bad = next(
        (i for i, r in enumerate(rows, start=2) if any(r.get(c) is None for c in wanted)), None
    )
    if bad is not None:
        raise DataError(f"{path} line {bad} has fewer fields than the header; fix that row")
    if not rows:
        raise DataError(f"{path} has a header but no rows; add examples")
    texts = [r[text_column].strip() for r in rows]
    texts_b = [r[text_b_column].strip() for r in rows] if text_b_column else None
    if label_column is None:
        return TextDataset(path.stem, texts, texts_b, None, label_names)
    raw = [r[label_column].strip() for r in rows]
    if regression:
        return TextDataset(path.stem, texts, texts_b, _floats(raw, path), None)
    labels, names = _class_ids(raw, label_names, path)
    return TextDataset(path.stem, texts, texts_b, labels, names)


def read_table(path: Path) -> tuple[csv.DictReader, list[dict[str, str]]]:
    """The header reader and rows of a .tsv (tab, no quoting) or .csv (standard quoting)."""
    text = read_text(path).lstrip("\ufeff")
    if not text.strip():
        raise DataError(f"{path} is empty; give a table with a header row (e.g. text<TAB>label)")
    if path.suffix.lower() in (".tsv", ".tab", ".txt"):
        reader = csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.DictReader(io.StringIO(text))
    try:
        return reader, list(reader)
    except csv.Error as exc:  # a field over the csv module's 128 KiB limit, a stray NUL, ...
        raise DataError(f"{path} line {reader.line_num}: {exc}; fix or remove that row") \
            from None


def _floats(raw: list[str], path: Path) -> np.ndarray:
    try:
        values = np.asarray([float(v) for v in raw], dtype=np.float32)
    except ValueError as exc:
        raise DataError(f"{path}: a regression label is not a number ({exc})") from None
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise DataError(f"{path} line {bad[0] + 2}: the score {raw[bad[0]]!r} is not a finite "
                        "number; every regression label must be one")
    return values


def _class_ids(raw: list[str], names: list[str] | None, path: Path) -> tuple[np.ndarray, list[str]]:
    if names is None and all(v.lstrip("-").isdigit() for v in raw):
        ids = np.asarray([int(v) for v in raw], dtype=np.int64)
        if ids.min() < 0:
            raise DataError(f"{path}: integer class labels must be >= 0")
        count, seen = int(ids.max()) + 1, len(set(ids.tolist()))
        if count > 2 * seen:  # ids {0, 1000000} would make a million-class model
            raise DataError(f"{path}: integer class labels run to {count - 1} but only {seen} "
                            f"distinct ids appear, so most of the {count:,} classes would have "
                            "no example; number the classes 0..K-1, or write them as names")
        return ids, [str(i) for i in range(int(ids.max()) + 1)]
    names = names or sorted(set(raw))
    index = {n: i for i, n in enumerate(names)}
    unknown = sorted(set(raw) - set(index))
    if unknown:
        raise DataError(f"{path}: labels {unknown[:5]} are not in label_names {names}")
    return np.asarray([index[v] for v in raw], dtype=np.int64), list(names)


def _class_folders(root: Path) -> list[Path]:
    if not root.is_dir():
        raise DataError(f"{root} is not a folder; give a folder with one sub-folder per class")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DataError(f"{root} has no class sub-folders; put each class's files in root/<class>/")
    return folders


def load_audio_folder(path: str | Path, num_samples: int = CLIP_SAMPLES) -> AudioDataset:
    """root/<class>/*.wav, 16 kHz mono 16-bit; clips padded or cut to `num_samples`."""
    root = Path(path)
    waves, labels, speakers = [], [], []
    folders = _class_folders(root)
    for label, folder in enumerate(folders):
        for wav in sorted(folder.glob("*.wav")):
            samples = decode_wav(wav.read_bytes(), str(wav))
            clip = np.zeros(num_samples, dtype=np.int16)
            clip[: min(num_samples, len(samples))] = samples[:num_samples]
            waves.append(clip)
            labels.append(label)
            speakers.append(speaker_of(wav.name))
    if not waves:
        raise DataError(f"{root} has no .wav files in its class sub-folders")
    waveforms = np.stack(waves).astype(np.float32) / np.float32(32768.0)
    return AudioDataset(
        root.name, waveforms, np.asarray(labels), [f.name for f in folders], speakers
    )


def load_image_folder(
    path: str | Path, size: tuple[int, int] | None = None, mode: str | None = None
) -> ImageDataset:
    """root/<class>/<image> -> uint8 [N, H, W] (mode "L") or [N, H, W, 3] (mode "RGB").

    `size` is (height, width) to resize to; without it all images must share one size.
    `mode` defaults to "L" when every image is grayscale, else "RGB".
    """
    from PIL import Image

    root = Path(path)
    folders = _class_folders(root)
    files = [
        (label, f)
        for label, folder in enumerate(folders)
        for f in sorted(folder.iterdir())
        if f.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not files:
        raise DataError(
            f"{root} has no images ({', '.join(IMAGE_SUFFIXES)}) in its class sub-folders"
        )
    images = [open_image(file) for _, file in files]
    mode = mode or ("L" if all(i.mode in ("L", "1", "I;16", "I") for i in images) else "RGB")
    arrays = []
    for (_, file), img in zip(files, images, strict=True):
        img = img.convert(mode)
        if size is not None:
            img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        arrays.append(np.asarray(img, dtype=np.uint8))
        if arrays[-1].shape != arrays[0].shape:
            raise DataError(
                f"{file} is {arrays[-1].shape[:2]} but {files[0][1]} is {arrays[0].shape[:2]}; "
                "pass size=(height, width) to resize all images"
            )
    labels = np.asarray([label for label, _ in files], dtype=np.int64)
    return ImageDataset(root.name, np.stack(arrays), labels, [f.name for f in folders])
