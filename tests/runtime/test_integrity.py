"""A damaged artifact is refused at load with one line saying what is wrong."""

import json
import shutil

import pytest
from artifact_cases import copy_of

from tinyai.errors import ArtifactError
from tinyai.runtime import load_artifact


def _flip_byte(path, offset=-100):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _edit_manifest(root, edit):
    manifest = json.loads((root / "manifest.json").read_text())
    edit(manifest)
    (root / "manifest.json").write_text(json.dumps(manifest))


def tampered(root):
    _flip_byte(root / "model.onnx")


def truncated_packed_weights(root):
    path = root / "weights.packed"
    path.write_bytes(path.read_bytes()[:-10])


def missing_file(root):
    (root / "model.onnx").unlink()


def unlisted_file(root):
    (root / "extra.bin").write_bytes(b"surprise")


def manifest_hash_mismatch(root):
    _edit_manifest(root, lambda m: m["files"]["model.onnx"].update(sha256="0" * 64))


def resealed_hash_mismatch(root):
    """A forger who recomputes the manifest's digest still cannot make a file match."""
    from tinyai.runtime.manifest import manifest_digest

    def edit(manifest):
        manifest["files"]["model.onnx"]["sha256"] = "0" * 64
        manifest["digest"] = manifest_digest(manifest)

    _edit_manifest(root, edit)


def manifest_not_json(root):
    (root / "manifest.json").write_text("{ not json")


def manifest_from_the_future(root):
    _edit_manifest(root, lambda m: m.update(format_version=99))


def manifest_missing(root):
    (root / "manifest.json").unlink()


DAMAGE = [
    (tampered, "does not match its sha256"),
    (truncated_packed_weights, "truncated or replaced"),
    (missing_file, "is missing"),
    (unlisted_file, "does not list"),
    (manifest_hash_mismatch, "manifest.json was modified after export"),
    (resealed_hash_mismatch, "does not match its sha256"),
    (manifest_not_json, "not valid JSON"),
    (manifest_from_the_future, "newer than this runtime"),
    (manifest_missing, "has no manifest.json"),
]


@pytest.mark.parametrize(("damage", "reason"), DAMAGE, ids=[d.__name__ for d, _ in DAMAGE])
def test_damaged_artifact_is_refused_with_one_line(tmp_path, damage, reason):
    root = copy_of("mlp-pruned", tmp_path)
    load_artifact(root)  # intact copy loads
    damage(root)
    with pytest.raises(ArtifactError, match=reason) as info:
        load_artifact(root)
    assert "\n" not in str(info.value)


def test_missing_tokenizer_is_refused(tmp_path):
    root = copy_of("minilm-sst2", tmp_path)
    (root / "tokenizer" / "tokenizer.json").unlink()
    with pytest.raises(ArtifactError, match=r"tokenizer/tokenizer\.json is missing"):
        load_artifact(root)


def test_a_packed_artifact_cannot_silently_load_without_its_weights(tmp_path):
    """model.onnx alone points at no real file: plain onnxruntime fails instead of guessing."""
    import onnxruntime as ort

    root = copy_of("mlp-pruned", tmp_path)
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(root / "model.onnx", alone / "model.onnx")
    with pytest.raises(Exception, match=r"(?i)external data"):
        ort.InferenceSession(str(alone / "model.onnx"))


def test_cli_refuses_tampered_artifact_with_one_line(tmp_path, run_cli):
    root = copy_of("kws", tmp_path)
    _flip_byte(root / "model.onnx")
    wav = tmp_path / "x.wav"
    proc = run_cli("predict", str(root), str(wav))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "sha256" in proc.stderr
