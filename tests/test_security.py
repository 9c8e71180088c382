"""Nothing loaded runs: code planted in every kind of file tinyai loads never executes.

Each row plants code that would create a marker file if run, in a model directory, a
checkpoint or an artifact, and feeds it to the real CLI in a subprocess with stdin answering
"yes" (transformers asks on stdin before running a directory's code when trust_remote_code is
left unset). Each must end with exit status 2, one line on stderr, and no marker.
"""

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

MARKER_CODE = "open({marker!r}, 'w').write('pwned')\n"


class _Bomb:
    """Unpickling this creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _pickle_bomb(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(_Bomb(marker)))
    return path


def _tiny_bert(path: Path, vocab_size: int = 50) -> Path:
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=vocab_size, hidden_size=16, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=32, max_position_embeddings=32)
    BertModel(config).save_pretrained(str(path))
    return path


def _plant_remote_code(folder: Path, config_name: str, marker: Path, **changes) -> None:
    """Make `config_name` ask transformers for the folder's own (marker-writing) modules."""
    for module in ("configuration_evil", "modeling_evil", "tokenization_evil"):
        (folder / f"{module}.py").write_text(MARKER_CODE.format(marker=str(marker)))
    path = folder / config_name
    config = json.loads(path.read_text()) if path.is_file() else {}
    config.update(changes)
    path.write_text(json.dumps(config))


def _lenet_dir(path: Path) -> Path:
    from tinyai.models import LeNet300100, LeNet300100Config, save_model

    return save_model(LeNet300100(LeNet300100Config(hidden=(8,))), path)


AUTO_MAP = {"AutoConfig": "configuration_evil.EvilConfig", "AutoModel": "modeling_evil.EvilModel"}


# ------------------------------------------------------------------ model directories
def hf_dir_with_auto_map(tmp, marker):
    model = _tiny_bert(tmp / "hf")
    _plant_remote_code(model, "config.json", marker, model_type="evil-net", auto_map=AUTO_MAP)
    return ["summary", str(model)]


def hf_dir_with_known_type_and_auto_map(tmp, marker):
    model = _tiny_bert(tmp / "hf")
    _plant_remote_code(model, "config.json", marker, auto_map=AUTO_MAP)
    return ["summary", str(model)]


def hf_dir_with_unknown_model_type(tmp, marker):
    model = _tiny_bert(tmp / "hf")
    _plant_remote_code(model, "config.json", marker, model_type="evil-net")
    return ["summary", str(model)]


def hf_tokenizer_with_auto_map(tmp, marker):
    model = _tiny_bert(tmp / "hf")
    _plant_remote_code(model, "tokenizer_config.json", marker, tokenizer_class="EvilTokenizer",
                       auto_map={"AutoTokenizer": ["tokenization_evil.EvilTokenizer", None]})
    return ["export", str(model), str(tmp / "out"), "--task", "sst2"]


def sentence_transformers_dir_with_auto_map(tmp, marker):
    st = tmp / "st"
    _tiny_bert(st / "0_Transformer")
    (st / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "0_Transformer",
         "type": "sentence_transformers.models.Transformer"},
    ]))
    _plant_remote_code(st / "0_Transformer", "config.json", marker, auto_map=AUTO_MAP)
    return ["summary", str(st)]


def tinyai_head_dir_with_auto_map_in_encoder(tmp, marker):
    from transformers import BertModel

    from tinyai.models import TextClassifier, save_model

    encoder = BertModel.from_pretrained(str(_tiny_bert(tmp / "hf")))
    head = save_model(TextClassifier(encoder, 2), tmp / "head")
    _plant_remote_code(head / "encoder", "config.json", marker, model_type="evil-net",
                       auto_map=AUTO_MAP)
    return ["summary", str(head)]


def pickle_as_safetensors_in_tinyai_dir(tmp, marker):
    model = _lenet_dir(tmp / "lenet")
    _pickle_bomb(model / "model.safetensors", marker)
    return ["summary", str(model)]


def pickle_as_safetensors_in_hf_dir(tmp, marker):
    model = _tiny_bert(tmp / "hf")
    _pickle_bomb(model / "model.safetensors", marker)
    return ["summary", str(model)]


# ------------------------------------------------------------------------- checkpoints
RECIPE = {"version": 1, "task": {"name": "fashion-mnist", "limit": {"train": 16, "eval": 8}},
          "teacher": {"arch": "lenet-300-100", "config": {"hidden": [8]}},
          "stages": [{"finetune": {}, "train": {"steps": 1, "batch_size": 4}}],
          "measure": {"latency": False}}


def _checkpoint(tmp: Path) -> Path:
    """Where `_resume`'s run keeps its training checkpoint (the folder is made here)."""
    folder = tmp / "run" / "stages" / "01-finetune" / "checkpoints"
    folder.mkdir(parents=True)
    return folder / "checkpoint.pt"


def _resume(tmp: Path) -> list[str]:
    """`tinyai compress --resume` of an interrupted run whose checkpoint was planted."""
    import yaml

    from tinyai.recipe.schema import parse_recipe

    recipe = tmp / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    (tmp / "run" / "recipe.yaml").write_text(parse_recipe(RECIPE, base=tmp).to_yaml())
    return ["compress", str(recipe), "-o", str(tmp / "run"), "--resume"]


def pickled_checkpoint(tmp, marker):
    _pickle_bomb(_checkpoint(tmp), marker)
    return _resume(tmp)


def torch_zip_checkpoint_holding_code(tmp, marker):
    import torch

    torch.save({"model": {}, "step": 1, "payload": _Bomb(marker)}, _checkpoint(tmp))
    return _resume(tmp)


def truncated_checkpoint(tmp, marker):
    import torch

    path = _checkpoint(tmp)
    torch.save({"step": 1, "model": {"w": torch.zeros(1000)}}, path)
    path.write_bytes(path.read_bytes()[:500])
    return _resume(tmp)


def foreign_checkpoint(tmp, marker):
    """A real torch checkpoint, but of something else."""
    import torch

    torch.save({"weights": torch.zeros(3)}, _checkpoint(tmp))
    return _resume(tmp)


# --------------------------------------------------------------------------- artifacts
def _artifact_with(tmp: Path, marker: Path, name: str) -> list[str]:
    """An artifact whose `name` is a pickle, re-sealed (hash and digest recomputed)."""
    import tinyai
    from tinyai.export import ExportConfig
    from tinyai.runtime.manifest import manifest_digest, sha256_file

    task = "sst2" if name.startswith("tokenizer") else "fashion-mnist"
    if task == "sst2":
        from transformers import BertModel

        from tinyai.models import TextClassifier
        from tinyai.tasks import get_task

        # export refuses an embedding smaller than the task's tokenizer: size it to fit, so
        # the run reaches the planted tokenizer.json
        rows = len(get_task(task).tokenizer)
        model = TextClassifier(BertModel.from_pretrained(str(_tiny_bert(tmp / "hf", rows))), 2)
    else:
        from tinyai.models import LeNet300100, LeNet300100Config
        from tinyai.prune import MagnitudePruning, make_permanent, prune_

        model = LeNet300100(LeNet300100Config(hidden=(8,)))
        make_permanent(prune_(model, MagnitudePruning(sparsity=0.9)))  # packs its weights
    art = tinyai.export(model.eval(), tmp / "art", task=task,
                        config=ExportConfig(exporter="torchscript", verify=False))
    _pickle_bomb(art / name, marker)
    manifest = json.loads((art / "manifest.json").read_text())
    manifest["files"][name] = {"sha256": sha256_file(art / name),
                               "bytes": (art / name).stat().st_size}
    manifest["digest"] = manifest_digest(manifest)
    (art / "manifest.json").write_text(json.dumps(manifest))
    return ["predict", str(art), "a sentence"]


def pickle_as_model_onnx(tmp, marker):
    return _artifact_with(tmp, marker, "model.onnx")


def pickle_as_tokenizer_json(tmp, marker):
    return _artifact_with(tmp, marker, "tokenizer/tokenizer.json")


def pickle_as_packed_weights(tmp, marker):
    return _artifact_with(tmp, marker, "weights.packed")


PLANTS = [
    (hf_dir_with_auto_map, "asks to run Python code shipped with the model"),
    (hf_dir_with_known_type_and_auto_map, "(auto_map)"),
    (hf_dir_with_unknown_model_type, "model_type 'evil-net' is not one this transformers"),
    (hf_tokenizer_with_auto_map, "tokenizer_config.json asks to run Python code"),
    (sentence_transformers_dir_with_auto_map, "0_Transformer/config.json asks to run"),
    (tinyai_head_dir_with_auto_map_in_encoder, "encoder/config.json asks to run Python code"),
    (pickle_as_safetensors_in_tinyai_dir, "is not a valid safetensors file"),
    (pickle_as_safetensors_in_hf_dir, "is not a valid safetensors file"),
    (pickled_checkpoint, "not a torch.save archive"),
    (torch_zip_checkpoint_holding_code, "holds objects other than tensors and numbers"),
    (truncated_checkpoint, "is damaged or not a tinyai checkpoint"),
    (foreign_checkpoint, "is not a tinyai checkpoint (missing or bad model, optimizer"),
    (pickle_as_model_onnx, "model.onnx is not a readable ONNX model"),
    (pickle_as_tokenizer_json, "is not a readable tokenizer.json"),
    (pickle_as_packed_weights, "lies past the end of weights.packed"),
]


@pytest.mark.parametrize(("plant", "reason"), PLANTS, ids=[p.__name__ for p, _ in PLANTS])
def test_planted_code_never_runs(tmp_path, plant, reason):
    marker = tmp_path / "pwned"
    args = plant(tmp_path, marker)
    proc = subprocess.run(
        [sys.executable, "-m", "tinyai", *args],
        input="yes\n" * 5, capture_output=True, text=True, timeout=300,
        env={**os.environ, "TRANSFORMERS_VERBOSITY": "error"},
    )
    assert not marker.exists(), "planted code ran"
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    # compress prints its progress before it reaches the checkpoint; the error is one line
    progress = lines[:-1] if args[0] == "compress" else []
    assert lines == [*progress, lines[-1]] and lines[-1].startswith("error: "), proc.stderr
    assert not any(line.startswith(("error", "Traceback")) for line in progress), proc.stderr
    assert reason in lines[-1]


def test_the_bait_is_real(tmp_path):
    """The planted files do run code when a loader trusts them: the test above means something."""
    marker = tmp_path / "pwned"
    args = hf_dir_with_auto_map(tmp_path, marker)
    trusting = "import sys; from transformers import AutoConfig; " \
               "AutoConfig.from_pretrained(sys.argv[1], trust_remote_code=True)"
    subprocess.run([sys.executable, "-c", trusting, args[1]], capture_output=True, timeout=300)
    assert marker.exists()
    marker.unlink()
    pickle.loads(_pickle_bomb(tmp_path / "bomb.pkl", marker).read_bytes())
    assert marker.exists()
