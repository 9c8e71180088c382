"""tinyai installed with only its `runtime` extra, in a fresh venv without torch, predicts.

The package is installed with --no-deps (its full dependency list includes torch), then exactly
the requirements the `runtime` extra lists in pyproject.toml. Wheels are fetched once into a
cache folder and installed offline (--no-index) after that, which keeps the test around 20 s.
"""

import hashlib
import json
import shutil
import subprocess
import sys
import tomllib
import venv

import numpy as np
import pytest
import trained_cases
from artifact_cases import artifact
from raw_files import write_wav

from tinyai.paths import cache_dir
from tinyai.runtime import load_artifact

REPO = __import__("pathlib").Path(__file__).resolve().parents[2]
BUILD_REQUIREMENTS = ["setuptools>=68", "wheel"]

SCRIPT = """
import json, sys
try:
    import torch  # noqa: F401
    sys.exit("torch is importable in the runtime-only environment")
except ImportError:
    pass
import numpy as np
from tinyai.runtime import load_artifact
from tinyai.runtime.stream import listen
args = json.loads(sys.argv[1])
out = {}
for name, (path, inputs) in args.items():
    predictor = load_artifact(path)
    if name == "image":
        out[name] = predictor.predict(np.asarray(inputs, dtype=np.uint8))
    elif name.startswith("char"):
        out[name] = [predictor.complete(inputs[0], 30), predictor.suggest(inputs[1])]
    elif name == "listen":
        out[name] = [d.to_dict() for d in listen(predictor, inputs[0])]
    else:
        out[name] = predictor.predict(inputs)
print(json.dumps({"results": out, "torch": "torch" in sys.modules}))
"""


def runtime_requirements() -> list[str]:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    return list(pyproject["project"]["optional-dependencies"]["runtime"])


def _run(*cmd: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return proc


def _wheelhouse(requirements: list[str]):
    key = hashlib.sha256(json.dumps(requirements).encode()).hexdigest()[:12]
    folder = cache_dir("test-runtime-wheels", key)
    if not (folder / "complete").is_file():
        _run(
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "-d",
            str(folder),
            "-c",
            str(REPO / "constraints.txt"),
            *requirements,
            *BUILD_REQUIREMENTS,
        )
        (folder / "complete").write_text("ok\n")
    return folder


@pytest.fixture(scope="module")
def runtime_python(tmp_path_factory):
    requirements = runtime_requirements()
    if any(r.split(">")[0].split("=")[0].strip().lower() == "torch" for r in requirements):
        pytest.fail("the runtime extra must not list torch")
    wheels = _wheelhouse(requirements)
    env_dir = tmp_path_factory.mktemp("runtime-venv")
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = str(env_dir / "bin" / "python")
    offline = ["--no-index", "--find-links", str(wheels), "--disable-pip-version-check", "-q"]
    _run(python, "-m", "pip", "install", *offline, *requirements)
    _run(python, "-m", "pip", "install", *offline, "--no-deps", str(_source_copy(env_dir)))
    return python


def _source_copy(env_dir):
    """The package sources in a scratch folder, so the build never writes into the repo."""
    target = env_dir.parent / f"{env_dir.name}-src"
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(REPO / "src", target / "src", ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, target / name)
    return target


def test_runtime_extra_predicts_without_torch(runtime_python, tmp_path):
    image_path, kws_path, text_path = (artifact(r)[2] for r in ("cnn", "kws", "minilm-sst2"))
    images = artifact("cnn")[1].dataset("test").images[:2]
    wav = str(write_wav(tmp_path / "clip.wav", artifact("kws")[1].dataset("test").waveforms[0]))
    sentences = ["a warm, witty film", "tedious"]
    _, kws_task, listener = trained_cases.kws()  # a trained spotter: something to hear
    test, silence = kws_task.dataset("test"), np.zeros(16000, np.float32)
    scene = [silence]
    for word in ("yes", "stop"):
        scene += [test.waveforms[test.labels == kws_task.label_names.index(word)][0], silence]
    long_wav = str(write_wav(tmp_path / "long.wav", np.concatenate(scene)))
    chars = ["ROMEO:", "to be or not to b"]
    char_paths = {
        "char-gru": trained_cases.char("gru")[2],
        "char-transformer": artifact("char-transformer")[2],
    }
    args = {
        "image": [str(image_path), images.tolist()],
        "audio": [str(kws_path), [wav]],
        "text": [str(text_path), sentences],
        "listen": [str(listener), [long_wav]],
        **{name: [str(path), chars] for name, path in char_paths.items()},
    }
    proc = _run(runtime_python, "-c", SCRIPT, json.dumps(args))
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["torch"] is False
    # the stateful character models and the streaming detector give what they give here
    for name, path in char_paths.items():
        predictor = load_artifact(path)
        expected_char = [predictor.complete(chars[0], 30), predictor.suggest(chars[1])]
        assert report["results"].pop(name) == expected_char
    from tinyai.runtime.stream import listen

    heard = [d.to_dict() for d in listen(load_artifact(listener), long_wav)]
    assert heard and report["results"].pop("listen") == heard
    expected = {
        "image": load_artifact(image_path).predict(images),
        "audio": load_artifact(kws_path).predict([wav]),
        "text": load_artifact(text_path).predict(sentences),
    }
    for name, results in report["results"].items():
        assert [r["label"] for r in results] == [e["label"] for e in expected[name]]
        assert np.allclose(
            [r["score"] for r in results], [e["score"] for e in expected[name]], atol=1e-6
        )
    if any(r.lower().startswith("typer") for r in runtime_requirements()):
        cli = _run(runtime_python, "-m", "tinyai", "predict", str(text_path), *sentences, "--json")
        assert [r["label"] for r in json.loads(cli.stdout)] == [
            e["label"] for e in expected["text"]
        ]
