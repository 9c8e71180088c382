// The page: load the model, then suggest words for the text box as the user types.
import * as ort from "./ort.wasm.bundle.min.mjs";
import { CharModel, currentWord, suggest } from "./suggest.js";

const text = document.getElementById("text");
const strip = document.getElementById("suggestions");
const status = document.getElementById("status");

// One WebAssembly thread: no SharedArrayBuffer, so no cross-origin isolation headers needed.
// The bundle carries its JavaScript glue; only the .wasm binary is fetched, from this folder.
ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = { wasm: new URL("./ort-wasm-simd-threaded.wasm", import.meta.url).href };

async function main() {
  const config = await (await fetch("tinyai-app.json")).json();
  const session = await ort.InferenceSession.create("model.onnx", { executionProviders: ["wasm"] });
  const model = new CharModel(ort, session, config);
  let busy = false;
  let pending = true;

  // Typing is faster than a search: run one at a time, always on the latest text.
  async function refresh() {
    pending = true;
    if (busy) return;
    busy = true;
    while (pending) {
      pending = false;
      const typed = text.value;
      try {
        show(await suggest(model, typed, config), typed, config);
        status.textContent = "";
      } catch (error) {
        show([], typed, config);
        status.textContent = error.message;
      }
    }
    busy = false;
  }

  function show(words, typed, config) {
    strip.replaceChildren(
      ...words.map((word) => {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = word;
        button.addEventListener("click", () => accept(word, config));
        return button;
      }),
    );
    document.body.dataset.suggestedFor = typed; // what the strip now shows suggestions for
  }

  // Tapping a suggestion replaces the word being typed with it (no space added).
  function accept(word, config) {
    const typed = text.value;
    text.value = typed.slice(0, typed.length - currentWord(typed, config).length) + word;
    text.focus();
    refresh();
  }

  text.addEventListener("input", refresh);
  text.disabled = false;
  text.focus();
  status.textContent = "";
  document.body.dataset.ready = "true";
  refresh();
}

main().catch((error) => {
  status.textContent = `The model could not be loaded: ${error.message}`;
  console.error(error);
});
