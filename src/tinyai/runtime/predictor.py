"""A loaded artifact: raw inputs in, predictions out (numpy + onnxruntime only)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tinyai.errors import DataError
from tinyai.runtime import preprocess

CLASSIFICATION_KINDS = ("text-classification", "image-classification", "audio-classification",
                        "array-classification")
REGRESSION_KINDS = ("text-regression", "array-regression")


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


class Predictor:
    """What `load_artifact` returns. `predict` takes a list of raw inputs of the task's kind:

    text-classification / text-regression / sentence-embedding: sentences (or pairs);
    image-classification: image paths or uint8 arrays; audio-classification: wav paths or
    float32 waveforms; char-lm: prompts to complete; array-*: an array (a batch), a mapping
    {input name: array}, or a list of examples.
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

    def __repr__(self) -> str:
        return f"<Predictor {self.task} ({self.kind}) from {self.root}>"

    # -- low level ------------------------------------------------------------------------
    def preprocess(self, raw: Any) -> dict[str, np.ndarray]:
        """Raw inputs -> the model's named input arrays."""
        if self.kind == "char-lm":
            ids = [self.inputs.encode(text) for text in raw]
            if len({len(i) for i in ids}) != 1:
                raise DataError("prompts in one char-lm batch must have the same length")
            return {"input_ids": np.stack(ids)}
        if isinstance(raw, np.ndarray | dict):  # an image batch; named arrays
            return self.inputs(raw)
        return self.inputs(list(raw))

    def run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """The model's output for already-preprocessed inputs."""
        feed = {name: inputs[name] for name in self.input_names}
        return self.session.run([self.output_name], feed)[0]

    def outputs(self, raw: Any) -> np.ndarray:
        return self.run(self.preprocess(raw))

    # -- high level -----------------------------------------------------------------------
    def predict(self, raw: Any, **options: Any) -> list[dict[str, Any]]:
        """One result dict per input: label + score (+ scores), score, embedding or completion."""
        if isinstance(raw, str | Path | tuple):
            raw = [raw]
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

    def complete(
        self, prompt: str, max_new_chars: int = 200, temperature: float = 0.0, seed: int = 0
    ) -> str:
        """Continue `prompt` one character at a time (greedy when temperature is 0)."""
        if not prompt:
            raise DataError("give the character model a non-empty prompt to continue")
        rng = np.random.default_rng(seed)
        ids = list(self.inputs.encode(prompt))
        context = int(self.inputs.seq_len)
        for _ in range(max_new_chars):
            window = np.asarray([ids[-context:]], dtype=np.int64)
            logits = self.run({"input_ids": window})[0, -1].astype(np.float64)
            if temperature <= 0:
                ids.append(int(np.argmax(logits)))
            else:
                ids.append(int(rng.choice(len(logits), p=softmax(logits / temperature))))
        return self.inputs.decode(ids[len(prompt) :])
