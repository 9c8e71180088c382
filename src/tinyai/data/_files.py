"""Reading data files with one clear DataError for anything missing or damaged."""

from __future__ import annotations

import gzip
import wave
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from tinyai.errors import DataError

RESTORE_HINT = "restore it from shared/data (see PROVENANCE.md) or point TINYAI_DATA at a good copy"


def read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it ends in .gz."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path} ({exc.strerror}); {RESTORE_HINT}") from None
    if path.suffix != ".gz":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path} is not a valid gzip file ({exc}); {RESTORE_HINT}") from None


def read_text(path: Path) -> str:
    try:
        return read_bytes(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text ({exc.reason}); {RESTORE_HINT}") from None


def tsv_rows(path: Path, n_fields: int, header: bool) -> list[list[str]]:
    """Rows of a TSV split plainly on tab (GLUE files are not CSV-quoted), field count checked."""
    lines = read_text(path).split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # a final newline (CoLA dev.tsv has none, the others do)
    if header:
        lines = lines[1:]
    rows = []
    for lineno, line in enumerate(lines, start=2 if header else 1):
        fields = line.split("\t")
        if len(fields) != n_fields:
            raise DataError(
                f"{path} line {lineno} has {len(fields)} tab-separated fields, expected "
                f"{n_fields}; the file is damaged: {RESTORE_HINT}"
            )
        rows.append(fields)
    if not rows:
        raise DataError(f"{path} has no data rows; {RESTORE_HINT}")
    return rows


def parse_label(value: str, path: Path, kind: type = int) -> int | float:
    try:
        return kind(value)
    except ValueError:
        raise DataError(f"{path} has a bad label {value!r}; {RESTORE_HINT}") from None


def decode_wav(data: bytes, where: str) -> np.ndarray:
    """16 kHz mono 16-bit PCM wav bytes -> int16 samples; anything else is a DataError."""
    import io

    try:
        with wave.open(io.BytesIO(data)) as wav:
            rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise DataError(
            f"{where} is not a readable wav file ({exc}); replace or remove it"
        ) from None
    if (rate, channels, width) != (16000, 1, 2):
        raise DataError(
            f"{where} is {rate} Hz, {channels} channel(s), {8 * width}-bit; tinyai needs 16 kHz "
            "mono 16-bit PCM: convert it, e.g. "
            "'ffmpeg -i in.wav -ar 16000 -ac 1 -c:a pcm_s16le out.wav'"
        )
    declared = _data_chunk_size(data)
    if declared is not None and (declared % 2 or len(frames) < declared):
        what = (f"an odd number of sample bytes ({declared}), not whole 16-bit samples"
                if declared % 2 else f"{len(frames)} of the {declared} sample bytes it declares")
        raise DataError(f"{where} holds {what}: it is truncated or damaged; replace or remove it")
    return np.frombuffer(frames, dtype="<i2")


def _data_chunk_size(data: bytes) -> int | None:
    """The byte count the ``data`` chunk of a RIFF/WAVE file declares (None if not found).

    The wave module reads whole frames only, so it would silently drop a stray last byte
    or return less than a truncated file declares; this says what the file claims to hold.
    """
    at = 12  # past "RIFF", the RIFF size and "WAVE"
    while at + 8 <= len(data):
        kind, size = data[at : at + 4], int.from_bytes(data[at + 4 : at + 8], "little")
        if kind == b"data":
            return size
        at += 8 + size + (size & 1)  # chunks are padded to an even length
    return None


def open_image(path: str | Path) -> Any:
    """The image at `path`, decoded (a PIL image); anything else is a DataError.

    A file that declares more pixels than Pillow's decompression-bomb limit (about 89
    megapixels) is refused before it is decoded: a few kB of PNG can declare gigabytes.
    """
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    shown = str(path) if str(path).isprintable() else repr(str(path))  # one line, always
    try:
        with Image.open(path) as img:
            if limit and img.width * img.height > limit:
                raise DataError(f"{shown} is {img.width} x {img.height} pixels, more than the "
                                f"{limit:,} tinyai decodes (a decompression bomb?); use a "
                                "smaller image")
            img.load()
            return img.copy()
    except Image.DecompressionBombError:
        raise DataError(f"{shown} declares more pixels than the {limit:,} tinyai decodes (a "
                        "decompression bomb?); use a smaller image") from None
    except DataError:
        raise
    except Exception as exc:  # a damaged file makes Pillow raise almost anything
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise DataError(f"{shown} is not a readable image ({reason}); replace or remove it") \
            from None
