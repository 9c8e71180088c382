"""Word suggestions for a keyboard: the k most likely completions of the word being typed.

A *word character* is a letter, a digit or an apostrophe ("'tis", "o'er"); anything else (a
space, punctuation, a newline) ends a word. The current word is the run of word characters
at the end of the text typed so far ("" right after a space: then the suggestions predict
the next word). A completion adds at least one word character and ends where the model
writes a non-word character, so its probability is

    P(c1 .. cn | text) * P(next character is not a word character | text c1 .. cn)

The search over characters is best-first (uniform cost on -log P), so it is exact, unlike a
fixed-width beam, which drops a short word behind a likelier long prefix (a 6-wide beam missed
"by" after "to be or not to b" because "y" was the 7th likeliest letter, though "by" then ends
for sure). Candidates wait in a priority queue ordered by cost, then by arrival. Each round
expands the cheapest unfinished candidate together with up to `batch` - 1 of the
next-cheapest ones of the same length, in one batched model call that forks the model state
row by row (extra expansions cost time, never correctness); a candidate's siblings join the
queue one by one in cost order, the next when one leaves; a finished completion is final
when it is the cheapest entry left, since extending a candidate only adds cost. The search
stops after k completions, after `max_expansions` candidates (then it returns the ones final
by then), or at `max_chars` characters per completion. Being exact, the result does not depend
on the order of expansion: the web app (tinyai.app) expands one candidate at a time and finds
the same, as long as neither runs out of expansions.
"""

from __future__ import annotations

import heapq
from itertools import count

import numpy as np

from tinyai.runtime.charlm import CharModel, Cursor, log_softmax

MAX_WORD_CHARS = 24
MAX_EXPANSIONS = 512


def is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "'"


def current_word(text: str) -> str:
    """The run of word characters at the end of `text`."""
    start = len(text)
    while start > 0 and is_word_char(text[start - 1]):
        start -= 1
    return text[start:]


def best_completions(
    model: CharModel,
    cursor: Cursor,
    vocab: list[str],
    k: int = 3,
    batch: int = 8,
    max_expansions: int = MAX_EXPANSIONS,
    max_chars: int = MAX_WORD_CHARS,
) -> list[tuple[str, float]]:
    """The k most likely completions after `cursor` (one row), best first, as
    (characters added, log-probability)."""
    word_ids = np.asarray([i for i, ch in enumerate(vocab) if is_word_char(ch)])
    end_ids = [i for i, ch in enumerate(vocab) if not is_word_char(ch)]
    order = count()
    # Entries (cost, arrival, characters, finished, parent): (cost, arrival) is unique, so
    # tuples never compare further. `parent` = (cursor, row, costs of its children by rank,
    # their character ids, this entry's rank), or None for the root, which `cursor` has read.
    # A parent's children enter the queue one at a time, each when its elder sibling leaves:
    # the queue stays small, and the cheapest child is always in it.
    queue: list[tuple] = [(0.0, next(order), "", False, None)]
    found: list[tuple[str, float]] = []
    expanded = 0
    while expanded < max_expansions:
        taken = _take(queue, min(batch, max_expansions - expanded), k, found)
        if not taken:
            break
        expanded += len(taken)
        for entry in taken:
            _push_sibling(queue, order, entry, vocab)
        here = _read_last_characters(model, cursor, taken)
        logp = log_softmax(here.logits)
        for row, (cost, _, chars, _, _) in enumerate(taken):
            if chars and end_ids:
                end = cost - float(np.logaddexp.reduce(logp[row, end_ids]))
                heapq.heappush(queue, (end, next(order), chars, True, None))
            if len(chars) < max_chars and len(word_ids):
                costs = cost - logp[row, word_ids]
                ranked = np.argsort(costs, kind="stable")
                first = (here, row, costs[ranked], word_ids[ranked], 0)
                child = chars + vocab[first[3][0]]
                heapq.heappush(queue, (float(first[2][0]), next(order), child, False, first))
    return found


def _read_last_characters(model: CharModel, root: Cursor, taken: list[tuple]) -> Cursor:
    """One cursor for the taken candidates: each one's parent state after its last character."""
    if taken[0][4] is None:  # the root: `root` has read the text already
        return root
    parents = Cursor.gather([(p[0], p[1]) for *_, p in taken])
    return model.advance(parents, np.asarray([p[3][p[4]] for *_, p in taken]))


def _push_sibling(queue: list[tuple], order: count, entry: tuple, vocab: list[str]) -> None:
    parent = entry[4]
    if parent is None or parent[4] + 1 >= len(parent[3]):
        return
    here, row, costs, ids, rank = parent
    sibling = (here, row, costs, ids, rank + 1)
    chars = entry[2][:-1] + vocab[ids[rank + 1]]
    heapq.heappush(queue, (float(costs[rank + 1]), next(order), chars, False, sibling))


def _take(queue: list[tuple], batch: int, k: int, found: list[tuple[str, float]]) -> list[tuple]:
    """Confirm finished completions at the head of the queue (into `found`, up to k); then pop
    the cheapest unfinished candidate and up to batch - 1 of the next-cheapest ones of the same
    length (one batched model call needs equal lengths)."""
    while queue and queue[0][3] and len(found) < k:
        cost, _, chars, _, _ = heapq.heappop(queue)
        found.append((chars, -cost))
    if not queue or len(found) >= k:
        return []
    first = heapq.heappop(queue)
    length = len(first[2])
    peers = sorted(e for e in queue if not e[3] and len(e[2]) == length)[: batch - 1]
    if peers:
        chosen = {e[1] for e in peers}
        queue[:] = [e for e in queue if e[1] not in chosen]
        heapq.heapify(queue)
    return [first, *peers]
