"""A smaller WordPiece vocabulary: the sub-words a task corpus uses, rows carried over.

The idea behind Zhao et al. 2019 ("Extremely Small BERT Models from Mixed-Vocabulary
Training", the >60x smaller BERT): most of a 30k vocabulary is never seen by one task and
the embedding table dominates a small model's bytes. We keep the special tokens, every
character the corpus uses (as a word start and as a '##' continuation, so any word still
tokenizes into pieces instead of [UNK]) and the most frequent sub-words. The tokenizer
stays a Hugging Face fast tokenizer: we edit the `model.vocab` of its tokenizer.json and
the ids of its special tokens, so runtimes that read tokenizer.json need nothing new.
"""

from __future__ import annotations

import collections
import dataclasses
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from tinyai.errors import ConfigError, ModelError

_COPIED = ("tokenizer_config.json", "special_tokens_map.json")


@dataclasses.dataclass
class ReducedVocab:
    kept_ids: list[int]  # old id of each new id, ascending, so new id i <- old kept_ids[i]
    tokenizer_dir: Path  # tokenizer.json + vocab.txt + configs for the reduced vocabulary

    @property
    def size(self) -> int:
        return len(self.kept_ids)


def reduce_vocab(tokenizer_dir: str | Path, texts: Iterable[str], out_dir: str | Path,
                 max_size: int | None = None, min_count: int = 1) -> ReducedVocab:
    """Write a reduced tokenizer to `out_dir` keeping the sub-words `texts` use.

    `max_size` caps the vocabulary (most frequent sub-words first); words whose pieces were
    dropped are re-tokenized into smaller kept pieces, down to characters.
    """
    from tokenizers import Tokenizer

    src = Path(tokenizer_dir)
    if not (src / "tokenizer.json").is_file():
        raise ModelError(f"{src} has no tokenizer.json; pass the folder of a fast tokenizer")
    spec = json.loads((src / "tokenizer.json").read_text(encoding="utf-8"))
    model = spec["model"]
    if model.get("type") != "WordPiece":
        raise ConfigError("vocabulary reduction supports WordPiece tokenizers, "
                          f"not {model.get('type')}")
    vocab: dict[str, int] = model["vocab"]
    tokenizer = Tokenizer.from_str(json.dumps(spec))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    counts: collections.Counter[int] = collections.Counter()
    chars: set[str] = set()
    for batch in _chunks(list(texts), 2048):
        for enc in tokenizer.encode_batch(batch, add_special_tokens=False):
            counts.update(enc.ids)
        chars.update(*(tokenizer.normalizer.normalize_str(t) for t in batch))
    kept = _choose(vocab, counts, chars, [t["id"] for t in spec["added_tokens"]],
                   model.get("continuing_subword_prefix", "##"), max_size, min_count)
    _write(spec, src, Path(out_dir), kept)
    return ReducedVocab(kept, Path(out_dir))


def _choose(vocab: dict[str, int], counts: collections.Counter[int], chars: set[str],
            special: Sequence[int], prefix: str, max_size: int | None, min_count: int) -> list[int]:
    must = set(special)
    for ch in chars:  # characters keep every word tokenizable without [UNK]
        for piece in (ch, prefix + ch):
            if piece in vocab:
                must.add(vocab[piece])
    if max_size is not None and max_size < len(must):
        raise ConfigError(f"max_size {max_size} is below the {len(must)} special and character "
                          "tokens the corpus needs; raise max_size")
    frequent = [i for i, c in counts.most_common() if c >= min_count and i not in must]
    room = len(frequent) if max_size is None else max_size - len(must)
    return sorted(must | set(frequent[:room]))


def _write(spec: dict, src: Path, out: Path, kept: list[int]) -> None:
    old_tokens = {i: t for t, i in spec["model"]["vocab"].items()}
    new_id = {old: new for new, old in enumerate(kept)}
    tokens = [old_tokens[i] for i in kept]
    spec = json.loads(json.dumps(spec))  # deep copy before editing
    spec["model"]["vocab"] = {t: i for i, t in enumerate(tokens)}
    for added in spec["added_tokens"]:
        added["id"] = new_id[added["id"]]
    post = spec.get("post_processor") or {}
    for special in post.get("special_tokens", {}).values():
        special["ids"] = [new_id[i] for i in special["ids"]]
    if spec.get("padding"):
        spec["padding"]["pad_id"] = new_id[spec["padding"]["pad_id"]]
    from tinyai import atomic

    out.mkdir(parents=True, exist_ok=True)
    # kept_ids.json marks a complete vocabulary (load_reduced_vocab needs it): gone while the
    # other files are rewritten, written last, so a kill never leaves a mix that loads.
    (out / "kept_ids.json").unlink(missing_ok=True)
    atomic.write_text(out / "tokenizer.json", json.dumps(spec, ensure_ascii=False))
    atomic.write_text(out / "vocab.txt", "".join(t + "\n" for t in tokens))
    for name in _COPIED:
        if (src / name).is_file():
            atomic.write_bytes(out / name, (src / name).read_bytes())
    atomic.write_text(out / "kept_ids.json", json.dumps(kept))


def load_reduced_vocab(out_dir: str | Path) -> ReducedVocab:
    """A reduced vocabulary written earlier by `reduce_vocab`."""
    path = Path(out_dir) / "kept_ids.json"
    if not path.is_file():
        raise ModelError(f"{out_dir} holds no reduced vocabulary (kept_ids.json missing)")
    return ReducedVocab(json.loads(path.read_text(encoding="utf-8")), Path(out_dir))


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start: start + size]
