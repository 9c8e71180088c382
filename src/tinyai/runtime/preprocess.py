"""Raw inputs -> model inputs, from the settings an artifact's manifest records.

Audio and image go through tinyai.features, the very functions the training pipeline calls,
so a deployed model sees the features it was trained on. Text uses the artifact's own
tokenizer.json through the `tokenizers` library (what transformers' fast tokenizers run).
numpy, Pillow and tokenizers only: never torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tinyai.errors import ArtifactError, DataError
from tinyai.features.audio import AudioFeatures, audio_features
from tinyai.features.image import ImageNormalization, to_pixel_values
from tinyai.runtime.manifest import artifact_file


class TextInputs:
    """Sentences or sentence pairs -> int64 input_ids / attention_mask, padded to the longest."""

    def __init__(self, root: Path, settings: dict[str, Any]) -> None:
        from tokenizers import Tokenizer

        self.max_length = int(settings.get("max_length", 128))
        self.pair = bool(settings.get("text_pair", False))
        path = artifact_file(root, settings["tokenizer"])
        try:
            self.tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises a bare Exception on a bad file
            raise ArtifactError(
                f"{settings['tokenizer']} is not a readable tokenizer.json ({_first_line(exc)}); "
                "re-export the artifact"
            ) from None
        self.tokenizer.enable_truncation(max_length=self.max_length)
        self.tokenizer.enable_padding(pad_id=int(settings.get("pad_token_id", 0)))

    def __call__(self, texts: Sequence[str] | Sequence[tuple[str, str]]) -> dict[str, np.ndarray]:
        batch = [self._item(t) for t in texts]
        try:
            encodings = self.tokenizer.encode_batch(batch)
        except Exception as exc:  # tokenizers raises bare exceptions
            raise DataError(f"cannot tokenize the input ({_first_line(exc)})") from None
        return {
            "input_ids": np.asarray([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.asarray([e.attention_mask for e in encodings], dtype=np.int64),
        }


    def _item(self, text: Any) -> str | tuple[str, str]:
        if self.pair:
            if isinstance(text, list | tuple) and len(text) == 2:
                return _unicode(text[0]), _unicode(text[1])
            raise DataError("this model scores sentence pairs; pass (first, second) pairs of "
                            f"strings, not {_kind(text)}")
        return _unicode(text)


def _unicode(text: Any) -> str:
    if not isinstance(text, str):
        raise DataError(f"this model reads text: pass strings, not {_kind(text)}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate, which no tokenizer can read
        raise DataError(f"the input text is not valid Unicode ({exc.reason} at character "
                        f"{exc.start})") from None
    return text


def _kind(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of {value.dtype} {list(value.shape)}"
    return f"a {type(value).__name__}"


class ImageInputs:
    """Image files or uint8 arrays -> normalised float32 pixel_values [N, C, H, W]."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.normalization = ImageNormalization.from_dict(settings["normalization"])
        self.size = (int(settings["width"]), int(settings["height"]))

    def load(self, path: str | Path) -> np.ndarray:
        from PIL import Image

        from tinyai.data._files import open_image  # the training pipeline's image reader

        img = open_image(path).convert("L" if self.normalization.channels == 1 else "RGB")
        if img.size != self.size:
            img = img.resize(self.size, Image.Resampling.BILINEAR)
        return np.asarray(img, dtype=np.uint8)

    def __call__(self, images: Any) -> dict[str, np.ndarray]:
        if isinstance(images, np.ndarray):
            batch = images
        else:
            arrays = [self.load(x) if isinstance(x, str | Path) else self._array(x)
                      for x in images]
            if len({a.shape for a in arrays}) > 1:
                raise DataError("the image arrays of one batch differ in shape "
                                f"({sorted({a.shape for a in arrays})}); pass one size")
            batch = np.stack(arrays)
        if batch.dtype != np.uint8:
            raise DataError(f"image arrays hold uint8 pixels, got {batch.dtype}")
        try:
            pixels = to_pixel_values(batch, self.normalization)
        except ValueError as exc:
            raise DataError(str(exc)) from None
        (width, height), channels = self.size, self.normalization.channels
        if len(pixels) == 0 or pixels.shape[1:] != (channels, height, width):
            raise DataError(f"this model takes {width} x {height} images with {channels} "
                            f"channel(s), got an array of {list(batch.shape)}; pass image files "
                            "(resized for you) or arrays of that size")
        return {"pixel_values": pixels}

    def _array(self, value: Any) -> np.ndarray:
        if not isinstance(value, np.ndarray):
            raise DataError(f"an image is a file path or a uint8 array, not {_kind(value)}")
        return value


class AudioInputs:
    """Wav files or float32 waveforms in [-1, 1] -> features [N, frames, n_mels or n_mfcc]."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.features = AudioFeatures.from_dict(settings["features"])
        self.num_samples = int(settings.get("num_samples", self.features.sample_rate))

    def load(self, path: str | Path) -> np.ndarray:
        from tinyai.data._files import decode_wav  # the training pipeline's wav reader

        try:
            data = Path(path).read_bytes()
        except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
            raise DataError(f"cannot read {path!r} ({getattr(exc, 'strerror', None) or exc})") \
                from None
        return decode_wav(data, str(path)).astype(np.float32) / np.float32(32768.0)

    def fit(self, wave: np.ndarray) -> np.ndarray:
        """Pad with silence or cut to the clip length the model was trained on."""
        clip = np.zeros(self.num_samples, dtype=np.float32)
        clip[: min(self.num_samples, len(wave))] = wave[: self.num_samples]
        return clip

    def __call__(self, clips: Any) -> dict[str, np.ndarray]:
        if isinstance(clips, np.ndarray):
            if clips.ndim not in (1, 2):
                raise DataError(f"waveforms are arrays of [samples] or [clips, samples], got "
                                f"{_kind(clips)}")
            clips = [clips] if clips.ndim == 1 else list(clips)
        waves = [self.load(c) if isinstance(c, str | Path) else _waveform(c) for c in clips]
        if not waves:
            raise DataError("nothing to predict: give at least one clip")
        return {"features": audio_features(np.stack([self.fit(w) for w in waves]), self.features)}


def _waveform(value: Any) -> np.ndarray:
    """A clip given as an array: float samples in [-1, 1], one dimension, all finite."""
    if not (isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.ndim == 1
            and value.size):
        raise DataError("a clip is a wav path or a 1-D float array of samples in [-1, 1], not "
                        f"{_kind(value)}")
    if not np.isfinite(value).all():
        raise DataError("the waveform holds NaN or infinite samples")
    return value.astype(np.float32)


class CharInputs:
    """Text prompts <-> int64 character ids with the artifact's vocabulary."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.vocab: list[str] = list(settings["vocab"])
        self.index = {ch: i for i, ch in enumerate(self.vocab)}
        self.seq_len = int(settings.get("seq_len", 128))

    def encode(self, text: str) -> np.ndarray:
        if not isinstance(text, str):
            raise DataError(f"a character model continues a prompt string, not {_kind(text)}")
        unknown = sorted({ch for ch in text if ch not in self.index})
        if unknown:
            raise DataError(f"characters {''.join(unknown)!r} are not in the model's vocabulary")
        return np.asarray([self.index[ch] for ch in text], dtype=np.int64)

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.vocab[int(i)] for i in ids)


class ArrayInputs:
    """Raw arrays -> the model's named inputs, checked against the shapes it was exported for.

    Takes one array (a model with one input), a mapping {input name: array}, or a list of
    per-example arrays / mappings (stacked into a batch).
    """

    def __init__(self, settings: dict[str, Any]) -> None:
        self.specs = {spec["name"]: spec for spec in settings["inputs"]}

    def __call__(self, raw: Any) -> dict[str, np.ndarray]:
        try:
            return self._named(raw)
        except (ValueError, TypeError) as exc:  # numpy: ragged examples, text, objects
            raise DataError(f"the inputs are not arrays of numbers of one shape "
                            f"({_first_line(exc)}); pass a numeric array [N, ...]") from None

    def _named(self, raw: Any) -> dict[str, np.ndarray]:
        if isinstance(raw, dict):
            named = raw
        elif isinstance(raw, list | tuple) and raw and isinstance(raw[0], dict):
            named = {k: np.stack([np.asarray(example[k]) for example in raw]) for k in raw[0]}
        elif len(self.specs) == 1:
            named = {next(iter(self.specs)): np.asarray(raw) if not isinstance(raw, list | tuple)
                     else np.stack([np.asarray(x) for x in raw])}
        else:
            raise DataError(f"this model takes {len(self.specs)} arrays; pass "
                            f"{{{', '.join(map(repr, self.specs))}: ...}}")
        return {name: self._checked(name, named) for name in self.specs}

    def _checked(self, name: str, named: dict[str, Any]) -> np.ndarray:
        if name not in named:
            raise DataError(f"input {name!r} is missing; this model takes {', '.join(self.specs)}")
        spec = self.specs[name]
        array = np.asarray(named[name])
        want = spec["shape"]
        ok = array.ndim == len(want) + 1 and all(
            w is None or w == n for w, n in zip(want, array.shape[1:], strict=True))
        if not ok:
            shown = ["N", *("*" if w is None else str(w) for w in want)]
            raise DataError(f"input {name!r} has shape {list(array.shape)}; this model takes "
                            f"[{', '.join(shown)}]")
        return np.ascontiguousarray(array, dtype=np.dtype(spec["dtype"]))


def build(root: Path, settings: dict[str, Any]) -> Any:
    """The input converter for an artifact's ``preprocessing`` section.

    `tinyai.runtime.schema` has checked the field types already; settings that are typed
    right but inconsistent (win_length > n_fft, say) are caught here, as one line too.
    """
    kind = settings.get("type")
    builders = {
        "text": lambda: TextInputs(root, settings),
        "image": lambda: ImageInputs(settings),
        "audio": lambda: AudioInputs(settings),
        "chars": lambda: CharInputs(settings),
        "arrays": lambda: ArrayInputs(settings),
    }
    if kind not in builders:
        raise ArtifactError(f"unknown preprocessing type {kind!r} in the manifest; upgrade tinyai")
    try:
        return builders[kind]()
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(
            f"the manifest's {kind} preprocessing settings are invalid ({_first_line(exc)}); "
            "re-export the artifact"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else type(exc).__name__
