"""A character model artifact, one character at a time: generation and word suggestions.

numpy + onnxruntime only. The graph of a char-LM artifact takes ``input_ids`` [batch,
sequence] and returns ``logits`` [batch, sequence, vocab]. An artifact exported from
`tinyai.models.charlm` also carries its state between calls:

* ``state`` [batch, ...] -> ``state_out`` (zeros: nothing read yet), fed back on the next call,
  so each further character costs one step instead of a re-run of the prefix;
* ``position`` (int64, 0-d), present when the state is a fixed-size attention cache: the
  number of characters already in it. Such a cache holds at most ``seq_len`` characters (the
  training window). When the text outgrows it, the cache restarts from the text's last
  characters at a start `window_start` computes from the text's length alone, so the context
  the model sees depends on the text, not on how it was typed (the web app repeats this).

Artifacts without ``state`` (and ``stateful=False``) run *windowed*: every next character
re-runs the last ``seq_len`` characters from an empty state. The two paths agree while the
text fits the window; beyond it a recurrent state carries the whole text and an attention
cache between ``seq_len // 2 + 1`` and ``seq_len`` characters, the windowed path exactly
``seq_len``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyai.errors import ArtifactError, DataError

# The largest state row the runtime allocates (float32 values): 64 MB, far above any char
# model tinyai builds; a manifest declaring more is damaged or forged.
MAX_STATE_VALUES = 1 << 24


@dataclass(frozen=True)
class Cursor:
    """``rows`` texts of equal length as the model has read them: the last ``seq_len`` ids of
    each (``tail`` [rows, <=seq_len]), their full ``length``, the state after them (None when
    windowed) and the next-character logits [rows, vocab]."""

    tail: np.ndarray
    length: int
    state: np.ndarray | None
    logits: np.ndarray

    @property
    def rows(self) -> int:
        return int(self.tail.shape[0])

    def select(self, rows: np.ndarray | list[int]) -> Cursor:
        """The cursor of some rows (a search forks the state of its candidates this way)."""
        rows = np.asarray(rows, dtype=np.int64)
        state = None if self.state is None else self.state[rows]
        return Cursor(self.tail[rows], self.length, state, self.logits[rows])

    @staticmethod
    def gather(rows: list[tuple[Cursor, int]]) -> Cursor:
        """One cursor of (cursor, row) pairs from cursors of texts of the same length."""
        first = rows[0][0]
        state = None if first.state is None else np.stack([c.state[r] for c, r in rows])
        tail = np.stack([c.tail[r] for c, r in rows])
        return Cursor(tail, first.length, state, np.stack([c.logits[r] for c, r in rows]))


class CharModel:
    """Runs a char-LM session with or without its state (see the module docstring)."""

    def __init__(
        self, session: Any, manifest: dict[str, Any], seq_len: int, stateful: bool = True
    ) -> None:
        self.session = session
        self.seq_len = int(seq_len)
        specs = {spec["name"]: spec for spec in manifest["inputs"]}
        self.state_spec = specs.get("state")
        if self.state_spec is not None:
            dims = self.state_spec["shape"][1:]
            if not all(isinstance(d, int) for d in dims) or np.prod(dims) > MAX_STATE_VALUES:
                raise ArtifactError(
                    f"manifest.json: inputs['state'] must have fixed dimensions after the batch "
                    f"and at most {MAX_STATE_VALUES} values, got {dims}; re-export the artifact"
                )
        self.has_position = "position" in specs
        self.output_name = manifest["outputs"][0]["name"]
        self.stateful = bool(stateful and self.state_spec is not None)
        self._outputs = [self.output_name] + (["state_out"] if self.state_spec else [])

    def empty_state(self, rows: int) -> dict[str, np.ndarray]:
        """The graph's state inputs for `rows` texts with nothing read ({} without state)."""
        if self.state_spec is None:
            return {}
        shape = [rows, *(int(d) for d in self.state_spec["shape"][1:])]
        feed = {"state": np.zeros(shape, dtype=np.float32)}
        if self.has_position:
            feed["position"] = np.zeros((), dtype=np.int64)
        return feed

    def window_start(self, length: int) -> int:
        """Where the attention cache of a text of `length` characters starts (0: at its start).

        Restarting from a multiple of seq_len // 2 leaves room for seq_len // 2 more characters
        before the next restart, and makes the start a function of the length alone."""
        if not (self.stateful and self.has_position) or length <= self.seq_len:
            return 0
        half = max(1, self.seq_len // 2)
        return half * -(-(length - self.seq_len) // half)

    def start(self, ids: np.ndarray) -> Cursor:
        """Read `ids` [rows, T] (T >= 1) from an empty state."""
        ids = np.asarray(ids, dtype=np.int64).reshape(len(ids), -1)
        if ids.shape[1] == 0:
            raise DataError("the character model needs at least one character of text")
        empty = np.zeros((ids.shape[0], 0), dtype=np.int64)
        state = self.empty_state(ids.shape[0]).get("state") if self.stateful else None
        return self.advance(Cursor(empty, 0, state, np.zeros((ids.shape[0], 0))), ids)

    def advance(self, cursor: Cursor, ids: np.ndarray) -> Cursor:
        """Read `ids` [rows, t] (or [rows] for one character each) after `cursor`."""
        ids = np.asarray(ids, dtype=np.int64).reshape(cursor.rows, -1)
        length = cursor.length + ids.shape[1]
        text = np.concatenate([cursor.tail, ids], axis=1)
        if not self.stateful:
            logits = self._run(text[:, -self.seq_len :], self.empty_state(cursor.rows))
            return Cursor(text[:, -self.seq_len :], length, None, logits[:, -1])
        start = self.window_start(length)
        if start != self.window_start(cursor.length):  # the cache is full: restart it
            feed = self.empty_state(cursor.rows)
            logits, state = self._run(text[:, -(length - start) :], feed, with_state=True)
        else:
            feed = {"state": cursor.state}
            if self.has_position:
                feed["position"] = np.asarray(cursor.length - start, dtype=np.int64)
            logits, state = self._run(ids, feed, with_state=True)
        return Cursor(text[:, -self.seq_len :], length, state, logits[:, -1])

    def _run(self, ids: np.ndarray, feed: dict[str, np.ndarray], with_state: bool = False) -> Any:
        outputs = self.session.run(self._outputs, {"input_ids": ids, **feed})
        logits = outputs[0].astype(np.float64)
        return (logits, outputs[1]) if with_state else logits


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """float64 log-probabilities over the last axis."""
    x = np.asarray(logits, dtype=np.float64)
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def next_id(logits: np.ndarray, temperature: float, top_k: int, rng: np.random.Generator) -> int:
    """Greedy (temperature 0) or sampled among the `top_k` most likely (0: all) ids."""
    if temperature <= 0:
        return int(np.argmax(logits))
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    if 0 < top_k < len(scaled):
        cutoff = np.sort(scaled)[-top_k]
        scaled = np.where(scaled >= cutoff, scaled, -np.inf)
    probs = np.exp(log_softmax(scaled))
    return int(rng.choice(len(probs), p=probs / probs.sum()))


def generate(
    model: CharModel,
    ids: np.ndarray,
    count: int,
    temperature: float = 0.0,
    top_k: int = 0,
    seed: int = 0,
) -> list[int]:
    """`count` ids continuing `ids` [T], one model step per id when the model keeps state."""
    rng = np.random.default_rng(seed)
    cursor = model.start(np.asarray(ids)[None, :])
    out: list[int] = []
    for i in range(count):
        out.append(next_id(cursor.logits[0], temperature, top_k, rng))
        if i + 1 < count:
            cursor = model.advance(cursor, np.asarray([out[-1]]))
    return out
