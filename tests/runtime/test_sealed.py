"""An artifact is sealed: its manifest cannot be edited, and no manifest leads the runtime out.

Two kinds of attack, each refused with one line by `load_artifact` and by `tinyai predict`:

* tampering: a field that changes a prediction is edited in manifest.json (the digest no
  longer matches);
* forging: the manifest is rewritten *and* its digest recomputed, as anyone can: paths that
  leave the artifact, links out of it, a 10^12-element tensor, fields of the wrong type.
"""

import json
import shutil
from pathlib import Path

import pytest
from artifact_cases import copy_of

from tinyai.errors import ArtifactError
from tinyai.runtime import load_artifact
from tinyai.runtime.manifest import manifest_digest, sha256_file, update_manifest

HOSTNAME = Path("/etc/hostname")


@pytest.fixture(scope="module")
def text_artifact(tmp_path_factory):
    """A tiny BERT classifier over the packaged MiniLM tokenizer (seconds to export)."""
    import torch
    from transformers import BertConfig, BertModel

    import tinyai
    from tinyai.export import ExportConfig
    from tinyai.models import TextClassifier

    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=32, max_position_embeddings=128)
    model = TextClassifier(BertModel(config), 2).eval()
    out = tmp_path_factory.mktemp("text") / "tiny-sst2"
    return tinyai.export(model, out, task="sst2", config=ExportConfig(exporter="torchscript"))


def _copy(kind, tmp_path, text_artifact):
    if kind == "text":
        return Path(shutil.copytree(text_artifact, tmp_path / "text"))
    return copy_of({"image": "mlp-pruned", "audio": "kws"}[kind], tmp_path)


def _edit(root, edit, reseal=False):
    path = root / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    # an edit that writes the value already there would prove nothing
    assert manifest != json.loads(path.read_text()), f"{edit.__name__} changed nothing"
    if reseal:  # what a forger does: the digest algorithm is public
        manifest["digest"] = manifest_digest(manifest)
    path.write_text(json.dumps(manifest, indent=2))


def _refused(root, run_cli, reason):
    with pytest.raises(ArtifactError, match=reason) as info:
        load_artifact(root)
    assert "\n" not in str(info.value)
    proc = run_cli("predict", str(root), "some input")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.strip().count("\n") == 0
    assert proc.stdout == ""


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def edit(manifest):
        node = manifest
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    edit.__name__ = ".".join(map(str, keys))
    return edit


def _list_hostname(manifest):
    manifest["files"]["../../etc/hostname"] = {
        "sha256": sha256_file(HOSTNAME), "bytes": HOSTNAME.stat().st_size
    }


# Each edit changes what the artifact predicts (or reads); none is allowed without re-export.
TAMPERING = [
    ("image", _set("label_names", 0, "HACKED")),
    ("image", _set("preprocessing", "normalization", "mean", [0.9])),
    ("image", _set("preprocessing", "normalization", "std", [0.01])),
    ("text", _set("preprocessing", "max_length", 4)),
    ("text", _set("preprocessing", "lowercase", False)),
    ("text", _set("preprocessing", "pad_token_id", 101)),
    ("text", _set("preprocessing", "tokenizer", "tokenizer/tokenizer_config.json")),
    ("text", _set("label_names", ["positive", "negative"])),
    ("audio", _set("preprocessing", "features", "n_mels", 20)),
    ("audio", _set("preprocessing", "features", "hop_length", 160)),  # KWS MFCC hop: 320
    ("audio", _set("preprocessing", "num_samples", 8000)),
    ("image", _list_hostname),
]


@pytest.mark.parametrize(("kind", "edit"), TAMPERING,
                         ids=[f"{k}-{e.__name__}" for k, e in TAMPERING])
def test_an_edited_manifest_is_refused(tmp_path, run_cli, text_artifact, kind, edit):
    root = _copy(kind, tmp_path, text_artifact)
    load_artifact(root)  # the intact copy loads
    _edit(root, edit)
    _refused(root, run_cli, "manifest.json was modified after export; re-export the artifact")


def _packed_shape(manifest):
    manifest["packed_weights"]["tensors"][0]["shape"] = [10**6, 10**6]


PATH_FORGERIES = [
    ("image", _list_hostname, "must be a relative path inside the artifact"),
    ("image", lambda m: m["files"].update({"/etc/hostname": m["files"]["model.onnx"]}),
     "must be a relative path inside the artifact"),
    ("text", _set("preprocessing", "tokenizer", "../../../etc/passwd"),
     "preprocessing.tokenizer must be a relative path inside the artifact"),
    ("text", _set("preprocessing", "tokenizer", "/etc/passwd"),
     "preprocessing.tokenizer must be a relative path"),
    ("text", _set("preprocessing", "tokenizer", "tokenizer/vocab.txt"),
     "must be a file listed in the manifest's file table"),
    ("image", _set("packed_weights", "file", "/etc/passwd"),
     "packed_weights.file must be a relative path"),
    ("image", _set("model", "file", "../model.onnx"), "model.file must be a relative path"),
    ("image", _packed_shape, r"would take 4,000,000,000,000 bytes"),
]


@pytest.mark.parametrize(("kind", "edit", "reason"), PATH_FORGERIES,
                         ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(PATH_FORGERIES)])
def test_a_forged_manifest_cannot_lead_outside_or_allocate_without_bound(
    tmp_path, run_cli, text_artifact, kind, edit, reason
):
    root = _copy(kind, tmp_path, text_artifact)
    _edit(root, edit, reseal=True)
    _refused(root, run_cli, reason)


def test_a_link_to_a_file_outside_is_refused_even_with_the_right_hash(tmp_path, run_cli):
    root = copy_of("mlp-pruned", tmp_path)
    outside = tmp_path / "elsewhere.onnx"
    (root / "model.onnx").rename(outside)
    (root / "model.onnx").symlink_to(outside)  # same bytes, so the sha256 still matches
    _refused(root, run_cli, "model.onnx, a link or special file")


def test_a_linked_folder_is_refused(tmp_path, run_cli, text_artifact):
    root = _copy("text", tmp_path, text_artifact)
    shutil.move(root / "tokenizer", tmp_path / "outside")
    (root / "tokenizer").symlink_to(tmp_path / "outside", target_is_directory=True)
    _refused(root, run_cli, "tokenizer, a link or special file")


def test_a_packed_tensor_must_match_model_onnx(tmp_path, run_cli):
    """Even when model.onnx is forged to declare 10^12 elements too, nothing is allocated."""
    import onnx

    root = copy_of("mlp-pruned", tmp_path)
    model = onnx.load(str(root / "model.onnx"), load_external_data=False)
    init = next(i for i in model.graph.initializer if i.data_location == i.EXTERNAL)
    name = init.name
    del init.dims[:]
    init.dims.extend([10**6, 10**6])
    onnx.save_model(model, str(root / "model.onnx"))

    def forge(manifest):
        onnx_file = root / "model.onnx"
        manifest["files"]["model.onnx"] = {
            "sha256": sha256_file(onnx_file), "bytes": onnx_file.stat().st_size
        }

    _edit(root, forge, reseal=True)
    _refused(root, run_cli, f"packed tensor {name} is float32.* but model.onnx declares")
    _edit(root, lambda m: _packed_shape(m) or m["packed_weights"]["tensors"][0].update(name=name),
          reseal=True)
    _refused(root, run_cli, "would take 4,000,000,000,000 bytes")


PACKED_FORGERIES = [
    (lambda t: t.update(codec="zip-bomb"), "weight codec 'zip-bomb' is not available"),
    (lambda t: t.update(offset=10**9), "lies past the end of weights.packed"),
    (lambda t: t.update(dtype="object"), "dtype 'object', which is not packable"),
    (lambda t: t.update(name="not-an-initializer"), "is not a packed initializer of model.onnx"),
    (lambda t: t["meta"].update(count=10**12), "cannot decode packed tensor"),
]


@pytest.mark.parametrize(("edit", "reason"), PACKED_FORGERIES,
                         ids=[r.split()[0] + str(i) for i, (_, r) in enumerate(PACKED_FORGERIES)])
def test_packed_weights_entries_are_checked_before_decoding(tmp_path, edit, reason):
    root = copy_of("mlp-pruned", tmp_path)
    _edit(root, lambda m: edit(m["packed_weights"]["tensors"][0]), reseal=True)
    with pytest.raises(ArtifactError, match=reason) as info:
        load_artifact(root)
    assert "\n" not in str(info.value)


WRONG_TYPES = [
    ("image", _set("label_names", "t-shirt,trouser"), "label_names must be a list"),
    ("image", _set("label_names", ["t-shirt", "trouser"]),
     "label_names must be a list of 10 names, one per output score"),
    ("image", _set("inputs", "pixel_values"), "inputs must be a list"),
    ("image", _set("files", []), "files must be an object"),
    ("image", _set("preprocessing", "normalization", "mean", "0.5"), "mean must be a list"),
    ("image", _set("preprocessing", "width", 10**9), r"width must be an integer in \[1, 16384\]"),
    ("image", _set("packed_weights", "tensors", "all"), "tensors must be a list"),
    ("image", _set("format_version", "2"), "no valid format_version"),
    ("text", _set("preprocessing", "max_length", "128"), "max_length must be an integer"),
    ("text", _set("preprocessing", "tokenizer", ["tokenizer/tokenizer.json"]),
     "tokenizer must be a relative path"),
    ("audio", _set("preprocessing", "features", "n_fft", "512"), "n_fft must be an integer"),
    ("audio", _set("preprocessing", "features", "win_length", 4096),
     "audio preprocessing settings are invalid"),
    ("audio", _set("preprocessing", "type", "video"), "type must be one of"),
]


@pytest.mark.parametrize(("kind", "edit", "reason"), WRONG_TYPES,
                         ids=[f"{k}-{e.__name__}" for k, e, _ in WRONG_TYPES])
def test_wrong_typed_fields_are_one_line(tmp_path, run_cli, text_artifact, kind, edit, reason):
    root = _copy(kind, tmp_path, text_artifact)
    _edit(root, edit, reseal=True)
    _refused(root, run_cli, reason)


def test_update_manifest_reseals(tmp_path):
    root = copy_of("kws", tmp_path)
    before = json.loads((root / "manifest.json").read_text())["digest"]
    manifest = update_manifest(root, evaluation={"metrics": {"accuracy": 0.5}})
    assert manifest["digest"] != before
    assert load_artifact(root).manifest["evaluation"] == {"metrics": {"accuracy": 0.5}}
    assert sorted(p.name for p in root.iterdir()) == ["manifest.json", "model.onnx"]


def test_an_unsealed_manifest_from_an_older_tinyai_is_refused(tmp_path, run_cli):
    root = copy_of("kws", tmp_path)

    def downgrade(manifest):
        manifest["format_version"] = 1
        del manifest["digest"]

    _edit(root, downgrade)
    _refused(root, run_cli, "without a sealed manifest; re-export the artifact")
