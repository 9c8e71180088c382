// Word suggestions from a tinyai character-model artifact, in the browser.
//
// A JavaScript copy of tinyai/runtime/charlm.py (reading text with the model's state carried
// between calls) and tinyai/runtime/suggest.py (the exact best-first search for the k most
// likely completions of the word being typed). The rules are the same, so the page suggests
// what `tinyai predict ARTIFACT TEXT --suggest 3` prints; read those files for the why.

// --- the model, one character at a time (charlm.py) ---------------------------------------
export class CharModel {
  constructor(ort, session, config) {
    this.ort = ort;
    this.session = session;
    this.seqLen = config.seq_len;
    const state = config.inputs.find((spec) => spec.name === "state");
    this.stateDims = state ? state.shape.slice(1) : null; // all fixed after the batch axis
    this.stateSize = state ? this.stateDims.reduce((a, b) => a * b, 1) : 0;
    this.hasPosition = config.inputs.some((spec) => spec.name === "position");
    this.stateful = state !== undefined;
    this.outputs = config.outputs;
  }

  // Where the attention cache of a text of `length` characters starts (0: at its start).
  windowStart(length) {
    if (!(this.stateful && this.hasPosition) || length <= this.seqLen) return 0;
    const half = Math.max(1, Math.floor(this.seqLen / 2));
    return half * Math.ceil((length - this.seqLen) / half);
  }

  // Read `ids` (at least one) from an empty state.
  async start(ids) {
    if (ids.length === 0) throw new Error("the character model needs at least one character");
    const empty = { tail: [], length: 0, state: this.emptyState(), logits: null };
    return this.advance(empty, ids);
  }

  // Read `ids` after `cursor`; returns the new cursor (the old one stays valid).
  async advance(cursor, ids) {
    const length = cursor.length + ids.length;
    const text = cursor.tail.concat(ids);
    if (!this.stateful) {
      const window = text.slice(-this.seqLen);
      const { logits } = await this.run(window, null, 0);
      return { tail: window, length, state: null, logits };
    }
    const start = this.windowStart(length);
    let result;
    if (start !== this.windowStart(cursor.length)) {
      result = await this.run(text.slice(-(length - start)), this.emptyState(), 0);
    } else {
      result = await this.run(ids, cursor.state, cursor.length - start);
    }
    return { tail: text.slice(-this.seqLen), length, state: result.state, logits: result.logits };
  }

  emptyState() {
    return this.stateful ? new Float32Array(this.stateSize) : null;
  }

  // One call: ids [1, T] (+ state, position) -> the last character's logits (float64) and state.
  async run(ids, state, position) {
    const { Tensor } = this.ort;
    const feeds = {
      input_ids: new Tensor("int64", BigInt64Array.from(ids, (i) => BigInt(i)), [1, ids.length]),
    };
    if (state !== null) feeds.state = new Tensor("float32", state, [1, ...this.stateDims]);
    if (this.hasPosition) {
      feeds.position = new Tensor("int64", BigInt64Array.from([BigInt(position)]), []);
    }
    const out = await this.session.run(feeds);
    const all = out[this.outputs[0]];
    const vocab = all.dims[all.dims.length - 1];
    const logits = Float64Array.from(all.data.subarray(all.data.length - vocab));
    const next = this.stateful ? Float32Array.from(out.state_out.data) : null;
    return { logits, state: next };
  }
}

// --- the exact search (suggest.py) ---------------------------------------------------------
export function logSoftmax(logits) {
  let peak = -Infinity;
  for (const x of logits) peak = Math.max(peak, x);
  let sum = 0;
  for (const x of logits) sum += Math.exp(x - peak);
  const logZ = peak + Math.log(sum);
  return logits.map((x) => x - logZ);
}

function logSumExp(values) {
  const peak = Math.max(...values);
  return peak + Math.log(values.reduce((s, x) => s + Math.exp(x - peak), 0));
}

// A binary heap of entries ordered by (cost, arrival): the search's priority queue.
class Queue {
  constructor() {
    this.items = [];
  }
  get size() {
    return this.items.length;
  }
  peek() {
    return this.items[0];
  }
  static less(a, b) {
    return a.cost < b.cost || (a.cost === b.cost && a.arrival < b.arrival);
  }
  push(item) {
    const h = this.items;
    h.push(item);
    for (let i = h.length - 1; i > 0; ) {
      const up = (i - 1) >> 1;
      if (!Queue.less(h[i], h[up])) break;
      [h[i], h[up]] = [h[up], h[i]];
      i = up;
    }
  }
  pop() {
    const h = this.items;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0) {
      h[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && Queue.less(h[l], h[m])) m = l;
        if (r < h.length && Queue.less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}

// The k most likely completions after `cursor`, best first: [{chars, logp}].
export async function bestCompletions(model, cursor, config) {
  const { vocab, k } = config;
  const wordIds = [];
  const endIds = [];
  config.word_chars.forEach((isWord, i) => (isWord ? wordIds : endIds).push(i));
  let arrival = 0;
  // A candidate: its cost (-log P), arrival, characters, whether finished, and its parent's
  // cursor plus its ranked children; a parent's children join the queue one at a time.
  const queue = new Queue();
  queue.push({ cost: 0, arrival: arrival++, chars: "", finished: false, parent: null });
  const found = [];
  for (let expanded = 0; expanded < config.max_expansions; expanded++) {
    while (queue.size && queue.peek().finished && found.length < k) {
      const done = queue.pop();
      found.push({ chars: done.chars, logp: -done.cost });
    }
    if (!queue.size || found.length >= k) break;
    const entry = queue.pop();
    const parent = entry.parent;
    let here = cursor;
    if (parent !== null) {
      if (parent.rank + 1 < parent.ids.length) {
        const rank = parent.rank + 1;
        const chars = entry.chars.slice(0, -1) + vocab[parent.ids[rank]];
        const sibling = { ...parent, rank };
        queue.push({ cost: parent.costs[rank], arrival: arrival++, chars, finished: false, parent: sibling });
      }
      here = await model.advance(parent.cursor, [parent.ids[parent.rank]]);
    }
    const logp = logSoftmax(here.logits);
    if (entry.chars.length > 0 && endIds.length > 0) {
      const end = entry.cost - logSumExp(endIds.map((i) => logp[i]));
      queue.push({ cost: end, arrival: arrival++, chars: entry.chars, finished: true, parent: null });
    }
    if (entry.chars.length < config.max_chars && wordIds.length > 0) {
      const costs = wordIds.map((i) => entry.cost - logp[i]);
      const order = wordIds.map((_, j) => j).sort((a, b) => costs[a] - costs[b] || a - b);
      const ranked = {
        cursor: here,
        costs: order.map((j) => costs[j]),
        ids: order.map((j) => wordIds[j]),
        rank: 0,
      };
      const chars = entry.chars + vocab[ranked.ids[0]];
      queue.push({ cost: ranked.costs[0], arrival: arrival++, chars, finished: false, parent: ranked });
    }
  }
  return found;
}

// --- the keyboard's view -------------------------------------------------------------------
export function currentWord(text, config) {
  const index = new Map(config.vocab.map((ch, i) => [ch, i]));
  let start = text.length;
  while (start > 0 && config.word_chars[index.get(text[start - 1])] === true) start -= 1;
  return text.slice(start);
}

export function encode(text, config) {
  const index = new Map(config.vocab.map((ch, i) => [ch, i]));
  const unknown = [...new Set([...text].filter((ch) => !index.has(ch)))];
  if (unknown.length) {
    throw new Error(`characters ${JSON.stringify(unknown.join(""))} are not in the model's vocabulary`);
  }
  return [...text].map((ch) => index.get(ch));
}

// The k suggestions for the text typed so far, as whole words (what Predictor.suggest returns).
export async function suggest(model, text, config) {
  if (text.length === 0) return [];
  const cursor = await model.start(encode(text, config));
  const word = currentWord(text, config);
  return (await bestCompletions(model, cursor, config)).map((c) => word + c.chars);
}
