"""`tinyai app`: the web page suggests, in headless Chromium, what `tinyai predict --suggest` does.

The page runs the artifact with onnxruntime-web from its own folder, served on 127.0.0.1.
The models are the trained GRU and transformer of tests/runtime/trained_cases.py; a prefix
longer than the transformer's 64-character window makes the page restart its attention cache
where the Python runtime does. Skips, saying why, where onnxruntime-web (fetched by npm in
scripts/setup.sh) or Chromium is missing.
"""

import json

import numpy as np
import pytest
from trained_cases import char

from browser import open_browser, serve
from tinyai.app import ORT_WEB_FILES, ort_web_dir, write_app
from tinyai.runtime import load_artifact

LONG = (
    "KING RICHARD III:\nNow is the winter of our discontent\nMade glorious summer by this sun "
    "of Yo"
)
PREFIXES = ["to be or not to b", "What is th", "First Citiz", LONG]


def _ort_web_or_skip() -> None:
    if not all((ort_web_dir() / name).is_file() for name in ORT_WEB_FILES):
        pytest.skip(
            f"onnxruntime-web is not in {ort_web_dir()}: run scripts/setup.sh with npm installed"
        )


@pytest.fixture(scope="module", params=["gru", "transformer"])
def app(request, tmp_path_factory):
    _ort_web_or_skip()
    artifact = char(request.param)[2]
    return artifact, write_app(artifact, tmp_path_factory.mktemp("app") / request.param)


def _strip(page, text: str) -> list[str]:
    """The suggestions the page shows once it has caught up with `text`."""
    page.page.wait_for_function(
        "t => document.body.dataset.suggestedFor === t", arg=text, timeout=60_000
    )
    return page.evaluate(
        "[...document.querySelectorAll('#suggestions button')].map(b => b.textContent)"
    )


def _open(browser, url):
    page = browser.open(url)
    page.page.wait_for_function("document.body.dataset.ready === 'true'", timeout=60_000)
    return page


def test_page_suggests_what_the_cli_suggests(app, run_cli):
    artifact, folder = app
    assert len(LONG) > 64  # past the window the tests' models were trained with
    proc = run_cli("predict", str(artifact), *PREFIXES, "--suggest", "3", "--json")
    assert proc.returncode == 0, proc.stderr
    expected = {r["input"]: r["suggestions"] for r in json.loads(proc.stdout)}
    with serve(folder) as url, open_browser() as browser:
        page = _open(browser, url)
        for prefix in PREFIXES:
            page.page.fill("#text", prefix)
            assert _strip(page, prefix) == expected[prefix], prefix
        # typed key by key, the page ends with the same strip
        page.page.fill("#text", "")
        page.page.type("#text", "What is th")
        assert _strip(page, "What is th") == expected["What is th"]
        assert page.errors == []
        assert all(r.startswith(url) for r in page.requests)  # nothing from the network


def test_tapping_a_suggestion_completes_the_word(app):
    artifact, folder = app
    first = load_artifact(artifact).suggest("What is th")[0]
    with serve(folder) as url, open_browser() as browser:
        page = _open(browser, url)
        page.page.fill("#text", "What is th")
        _strip(page, "What is th")
        page.page.click("#suggestions button >> nth=0")
        assert page.evaluate("document.getElementById('text').value") == "What is " + first
        assert _strip(page, "What is " + first)  # and the strip moves on
        assert page.errors == []


def test_packed_weights_are_decoded_into_the_page_model(tmp_path):
    """A pruned model's artifact packs its sparse weights; the browser gets a plain ONNX file
    that computes the same logits."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    import tinyai
    from tinyai.prune import MagnitudePruning, copy_model, make_permanent, prune_

    _ort_web_or_skip()
    model, task, _ = char("gru")
    pruned = copy_model(model)
    prune_(pruned, MagnitudePruning(sparsity=0.9))
    make_permanent(pruned)
    artifact = tinyai.export(pruned.eval(), tmp_path / "pruned", task=task)
    assert load_artifact(artifact).manifest["packed_weights"]
    folder = write_app(artifact, tmp_path / "page")
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    predictor = load_artifact(artifact)
    feed = predictor.preprocess(["ROMEO:\nWhat say"])
    np.testing.assert_allclose(session.run(["logits"], feed)[0], predictor.run(feed), atol=1e-6)
    weights = [numpy_helper.to_array(t) for t in onnx.load(folder / "model.onnx").graph.initializer]
    largest = max(weights, key=lambda w: w.size)
    assert np.mean(largest == 0) >= 0.85  # the pruned weights themselves, decoded


def test_bad_uses_are_one_line_errors(tmp_path, run_cli):
    from artifact_cases import artifact

    char_artifact = str(artifact("char-gru")[2])
    proc = run_cli("app", str(artifact("kws")[2]), "-o", str(tmp_path / "a"))
    assert proc.returncode == 2 and "needs a character model" in proc.stderr
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    proc = run_cli("app", char_artifact, "-o", str(tmp_path / "mine"))
    assert proc.returncode == 2 and (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    empty = tmp_path / "no-ort"
    empty.mkdir()
    proc = run_cli(
        "app", char_artifact, "-o", str(tmp_path / "b"), env={"TINYAI_ORT_WEB": str(empty)}
    )
    assert proc.returncode == 2 and "scripts/setup.sh" in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_a_previous_app_is_replaced(tmp_path, run_cli):
    from artifact_cases import artifact

    _ort_web_or_skip()
    path = str(artifact("char-gru")[2])
    for _ in range(2):
        proc = run_cli("app", path, "-o", str(tmp_path / "page"))
        assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in (tmp_path / "page").iterdir())
    expected = ["index.html", "app.js", "suggest.js", "tinyai-app.json", "model.onnx"]
    assert names == sorted([*expected, *ORT_WEB_FILES])
