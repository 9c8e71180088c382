"""A loaded artifact: raw inputs in, predictions out (numpy + onnxruntime only)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tinyai.errors import DataError
from tinyai.runtime import preprocess
from tinyai.runtime.charlm import CharModel, Cursor, generate

CLASSIFICATION_KINDS = ("text-classification", "image-classification", "audio-classification",
                        "array-classification")
REGRESSION_KINDS = ("text-regression", "array-regression")
TEXT_KINDS = ("text-classification", "text-regression", "sentence-embedding")
# Kinds fed raw arrays: one array (a batch) or a mapping {input name: array}; "tensors" is
# an artifact exported from example inputs alone.
NAMED_ARRAY_KINDS = ("array-classification", "array-regression", "array-lm", "tensors")
# Kinds that also take one array (a batch): images and clips too.
ARRAY_KINDS = ("image-classification", "audio-classification", *NAMED_ARRAY_KINDS)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


class Predictor:
    """What `load_artifact` returns. `predict` takes a list of raw inputs of the task's kind:

    text-classification / text-regression / sentence-embedding: sentences (or pairs);
    image-classification: image paths or uint8 arrays; audio-classification: wav paths or
    float32 waveforms; char-lm: prompts to complete (see also `complete` and `suggest`);
    array-* and tensors: an array (a batch), a mapping {input name: array}, or a list of
    examples.
    """

    def __init__(self, root: Path, manifest: dict[str, Any], session: Any) -> None:
        self.root = root
        self.manifest = manifest
        self.session = session
        self.kind: str = manifest["kind"]
        self.task: str = manifest["task"]
        self.label_names: list[str] | None = manifest.get("label_names")
        self.input_names = [i["name"] for i in manifest["inputs"]]
        self.output_name: str = manifest["outputs"][0]["name"]
        self.inputs = preprocess.build(root, manifest["preprocessing"])
        self._typed: tuple[bool, str, Cursor] | None = None  # suggest()'s last text, read

    def __repr__(self) -> str:
        return f"<Predictor {self.task} ({self.kind}) from {self.root}>"

    # -- low level ------------------------------------------------------------------------
    def preprocess(self, raw: Any) -> dict[str, np.ndarray]:
        """Raw inputs -> the model's named input arrays."""
        raw = self._batch(raw)
        if self.kind == "char-lm":
            ids = [self.inputs.encode(text) for text in raw]
            if len({len(i) for i in ids}) != 1:
                raise DataError("prompts in one char-lm batch must have the same length")
            return {"input_ids": np.stack(ids), **self.char_model().empty_state(len(ids))}
        if isinstance(raw, np.ndarray | dict):  # an image batch; named arrays
            return self.inputs(raw)
        return self.inputs(list(raw))

    def run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """The model's output for already-preprocessed inputs (a char model's state, when not
        given, is the empty one: the inputs are whole windows of text)."""
        if self.kind == "char-lm" and "input_ids" in inputs:
            inputs = {**self.char_model().empty_state(len(inputs["input_ids"])), **inputs}
        try:
            feed = {name: inputs[name] for name in self.input_names}
            return self.session.run([self.output_name], feed)[0]
        except Exception as exc:  # onnxruntime's own exception types: inputs it cannot run
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise DataError(f"the model cannot run on these inputs ({first})") from None

    def _batch(self, raw: Any) -> Any:
        """`raw` as a non-empty list of inputs (or an array batch of images or clips)."""
        if isinstance(raw, str | Path) or (isinstance(raw, tuple) and self.kind in TEXT_KINDS):
            raw = [raw]
        elif (isinstance(raw, np.ndarray) and self.kind in ARRAY_KINDS) or (
            isinstance(raw, dict) and self.kind in NAMED_ARRAY_KINDS
        ):
            return raw
        if not isinstance(raw, list | tuple):
            shown = f"an array of {raw.dtype}" if isinstance(raw, np.ndarray) else \
                f"a {type(raw).__name__}"
            raise DataError(f"predict takes a list of inputs for a {self.kind} model, not "
                            f"{shown}")
        if not raw:
            raise DataError("nothing to predict: give at least one input")
        return list(raw)

    def outputs(self, raw: Any) -> np.ndarray:
        return self.run(self.preprocess(raw))

    # -- high level -----------------------------------------------------------------------
    def predict(self, raw: Any, **options: Any) -> list[dict[str, Any]]:
        """One result dict per input: label + score (+ scores), score, embedding or completion."""
        raw = self._batch(raw)
        if self.kind == "char-lm":
            return [{"prompt": p, "completion": self.complete(p, **options)} for p in raw]
        out = self.outputs(raw)
        if self.kind in CLASSIFICATION_KINDS:
            return self._labels(out, int(options.get("top_k", 1)))
        if self.kind in REGRESSION_KINDS:
            return [{"score": float(v)} for v in out.reshape(len(out), -1)[:, 0]]
        if self.kind == "sentence-embedding":
            return [{"embedding": row.astype(float).tolist()} for row in out]
        raise DataError(f"artifact kind {self.kind!r} has no predict(); use Predictor.outputs")

    def _labels(self, logits: np.ndarray, top_k: int) -> list[dict[str, Any]]:
        probs = softmax(logits.astype(np.float64))
        names = self.label_names or [str(i) for i in range(probs.shape[-1])]
        results = []
        for row in probs:
            order = np.argsort(-row)[: max(1, top_k)]
            results.append(
                {
                    "label": names[order[0]],
                    "score": float(row[order[0]]),
                    "top": [{"label": names[i], "score": float(row[i])} for i in order],
                }
            )
        return results

    def embed(self, sentences: Sequence[str]) -> np.ndarray:
        """Sentence embeddings [N, D] (sentence-embedding artifacts)."""
        return self.outputs(list(sentences))

    def char_model(self, stateful: bool = True) -> CharModel:
        """The char-LM session, carrying its state between calls when the artifact has one
        (`stateful=False`: re-run the window for every character, as artifacts without state)."""
        if self.kind != "char-lm":
            raise DataError(
                f"artifact kind {self.kind!r} is not a character language model; pass a char-lm "
                "artifact"
            )
        return CharModel(self.session, self.manifest, self.inputs.seq_len, stateful)

    def complete(
        self,
        prompt: str,
        n: int = 200,
        temperature: float = 0.0,
        top_k: int = 0,
        seed: int = 0,
        stateful: bool = True,
    ) -> str:
        """`n` characters continuing `prompt`: greedy when temperature is 0, else sampled from
        softmax(logits / temperature) over the `top_k` most likely (0: all), seeded."""
        if not isinstance(prompt, str) or not prompt:
            raise DataError("give the character model a non-empty prompt string to continue")
        ids = generate(
            self.char_model(stateful), self.inputs.encode(prompt), n, temperature, top_k, seed
        )
        return self.inputs.decode(ids)

    def suggest(self, text: str, k: int = 3, stateful: bool = True) -> list[str]:
        """The `k` most likely completions of the word being typed at the end of `text`, as
        whole words, best first, by an exact search (tinyai.runtime.suggest). Typing on (a
        longer `text` that starts with the previous one) reads only the new characters."""
        from tinyai.runtime.suggest import best_completions, current_word

        if not text:
            return []  # nothing typed: no context to predict from
        model, word = self.char_model(stateful), current_word(text)
        found = best_completions(model, self._cursor(text, model), self.inputs.vocab, k)
        return [word + chars for chars, _ in found]

    def _cursor(self, text: str, model: CharModel) -> Cursor:
        previous = self._typed
        if previous and previous[0] == model.stateful and text.startswith(previous[1]):
            extra = text[len(previous[1]) :]
            cursor = (
                model.advance(previous[2], self.inputs.encode(extra)[None, :])
                if extra
                else previous[2]
            )
        else:
            cursor = model.start(self.inputs.encode(text)[None, :])
        self._typed = (model.stateful, text, cursor)
        return cursor
