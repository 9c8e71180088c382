"""The files the bad-input table feeds the CLI: tiny good models and artifacts to pass where a
good one is needed, and one damaged or hostile file per kind of input (model directories,
artifacts, recipes, user data as TSV/CSV tables, wav and image folders, checkpoints).

`make_files(root)` writes them all under `root` and returns name -> path; the table refers to
them as ``{name}``. Everything is small: a whole set takes seconds to write.
"""

from __future__ import annotations

import json
import pickle
import shutil
import struct
import wave
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import yaml


def _sentences(n: int) -> list[tuple[str, int]]:
    """The first `n` SST-2 training sentences with their labels (real text, small slice)."""
    from tinyai.data.glue import load_glue

    data = load_glue("sst2", "train")
    return [(data.texts[i], int(data.labels[i])) for i in range(n)]


def _table(path: Path, rows: list[tuple[str, Any]], sep: str = "\t") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"text{sep}label"] + [f"{text}{sep}{label}" for text, label in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _wav(path: Path, samples: np.ndarray, rate: int = 16000, extra: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())
    if extra:  # bytes past the last whole sample, counted in the data chunk's size
        data = bytearray(path.read_bytes())
        at = data.index(b"data")
        size = struct.unpack_from("<I", data, at + 4)[0] + len(extra)
        struct.pack_into("<I", data, at + 4, size)
        data += extra
        struct.pack_into("<I", data, 4, len(data) - 8)
        path.write_bytes(bytes(data))
    return path


def _png(path: Path, value: int, size: int = 28) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size), value, dtype=np.uint8)).save(path)
    return path


def _png_bomb(path: Path) -> Path:
    """A 50 kB PNG that declares 60000 x 60000 pixels (3.6 GB decoded)."""
    width = height = 60000

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body +
                struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    row = b"\x00" + b"\x00" * width
    compressor = zlib.compressobj(9)
    body = compressor.compress(row * 64) + compressor.flush(zlib.Z_SYNC_FLUSH)
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0,
                                                             0, 0, 0))
           + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return path


def _recipe(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def good_recipe(**changes: Any) -> dict[str, Any]:
    """A tiny valid recipe (a 4/8-channel CNN on 128 Fashion-MNIST images)."""
    recipe: dict[str, Any] = {
        "version": 1,
        "task": {"name": "fashion-mnist", "limit": {"train": 128, "eval": 64}},
        "teacher": {"arch": "fashion-cnn", "config": {"channels": [4, 8]}},
        "stages": [{"finetune": {}, "train": {"steps": 2, "batch_size": 16}}],
        "measure": {"latency": False},
    }
    recipe.update(changes)
    return recipe


# ---------------------------------------------------------------------------- models
def _models(root: Path, files: dict[str, str]) -> None:
    import torch
    from transformers import BertConfig, BertModel

    import tinyai
    from tinyai.export import ExportConfig
    from tinyai.models import (
        CharLM,
        CharLMConfig,
        FashionCNN,
        FashionCNNConfig,
        KwsDSCNN,
        KwsDSCNNConfig,
        TextClassifier,
        resolve,
        save_model,
    )

    torch.manual_seed(0)
    cnn = FashionCNN(FashionCNNConfig(channels=(4, 8))).eval()
    files["cnn"] = str(save_model(cnn, root / "models" / "cnn"))
    encoder = BertModel(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                   intermediate_size=64, max_position_embeddings=64))
    text = TextClassifier(encoder, num_labels=2).eval()
    files["text"] = str(save_model(text, root / "models" / "text", tokenizer=resolve("minilm-l6")))
    kws = KwsDSCNN(KwsDSCNNConfig(channels=(8, 8, 8))).eval()
    files["kws"] = str(save_model(kws, root / "models" / "kws"))
    char = CharLM(CharLMConfig(hidden_size=16, embed_dim=8)).eval()
    config = ExportConfig(verify=False)
    arts = root / "artifacts"
    for name, model, task in (("cnn", cnn, "fashion-mnist"), ("text", text, "sst2"),
                              ("kws", kws, "speech-commands"), ("char", char, "shakespeare")):
        files[f"{name}_art"] = str(tinyai.export(model, arts / name, task, config=config))
    _damaged_models(root / "models", Path(files["cnn"]), files)
    _damaged_artifacts(arts, Path(files["cnn_art"]), files)


def _copy(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest)
    return dest


def _damaged_models(root: Path, cnn: Path, files: dict[str, str]) -> None:
    weights = "model.safetensors"
    d = _copy(cnn, root / "truncated")
    (d / weights).write_bytes((d / weights).read_bytes()[:100])
    d = _copy(cnn, root / "empty-weights")
    (d / weights).write_bytes(b"")
    d = _copy(cnn, root / "pickled-weights")
    (d / weights).write_bytes(pickle.dumps({"weight": [1.0, 2.0]}))
    d = _copy(cnn, root / "no-weights")
    (d / weights).unlink()
    d = _copy(cnn, root / "config-not-json")
    (d / "config.json").write_text("{not json")
    d = _copy(cnn, root / "config-wrong-type")
    config = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**config, "channels": "many"}))
    structure = json.loads((cnn / "structure.json").read_text())
    d = _copy(cnn, root / "structure-not-json")
    (d / "structure.json").write_text("[1, 2")
    d = _copy(cnn, root / "structure-no-records")
    (d / "structure.json").write_text(json.dumps({k: v for k, v in structure.items()
                                                  if k != "records"}))
    d = _copy(cnn, root / "structure-unknown-record")
    (d / "structure.json").write_text(json.dumps({**structure, "records": [
        {"type": "os.system", "command": "touch /tmp/pwned"}]}))
    (root / "empty-dir").mkdir()
    for name in ("truncated", "empty-weights", "pickled-weights", "no-weights",
                 "config-not-json", "config-wrong-type", "structure-not-json",
                 "structure-no-records", "structure-unknown-record", "empty-dir"):
        files[f"model_{name.replace('-', '_')}"] = str(root / name)


def _reseal(folder: Path, change: Any) -> None:
    """Edit the manifest and seal it again (a well-formed, well-sealed but bad artifact)."""
    from tinyai.runtime.manifest import manifest_digest

    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    manifest["digest"] = manifest_digest(manifest)
    path.write_text(json.dumps(manifest, indent=2))


def _damaged_artifacts(root: Path, art: Path, files: dict[str, str]) -> None:
    d = _copy(art, root / "manifest-not-json")
    (d / "manifest.json").write_text("{ nope")
    d = _copy(art, root / "tampered-labels")
    manifest = json.loads((d / "manifest.json").read_text())
    manifest["label_names"][0] = "HACKED"
    (d / "manifest.json").write_text(json.dumps(manifest))
    d = _copy(art, root / "labels-wrong-type")
    _reseal(d, lambda m: m.__setitem__("label_names", 5))
    d = _copy(art, root / "inputs-wrong-type")
    _reseal(d, lambda m: m.__setitem__("inputs", {"name": "pixel_values"}))
    d = _copy(art, root / "height-string")
    _reseal(d, lambda m: m["preprocessing"].__setitem__("height", "28"))
    d = _copy(art, root / "no-model")
    (d / "model.onnx").unlink()
    d = _copy(art, root / "extra-file")
    (d / "notes.txt").write_text("mine")
    d = _copy(art, root / "truncated-model")
    (d / "model.onnx").write_bytes((d / "model.onnx").read_bytes()[:50])
    for name in ("manifest-not-json", "tampered-labels", "labels-wrong-type",
                 "inputs-wrong-type", "height-string", "no-model", "extra-file",
                 "truncated-model"):
        files[f"art_{name.replace('-', '_')}"] = str(root / name)


# ---------------------------------------------------------------------------- user data
def _user_data(root: Path, files: dict[str, str]) -> None:
    rows = _sentences(96)
    t = root / "tables"
    files["tsv_train"] = str(_table(t / "train.tsv", rows[:64]))
    files["tsv_test"] = str(_table(t / "test.tsv", rows[64:]))
    files["csv_train"] = str(_table(t / "train.csv", [(f'"{s}"', y) for s, y in rows[:64]], ","))
    files["tsv_one_class"] = str(_table(t / "one-class.tsv", [(s, 1) for s, _ in rows[:32]]))
    files["csv_one_class"] = str(_table(t / "one-class.csv", [(f'"{s}"', "good") for s, _ in
                                                             rows[:32]], ","))
    files["tsv_label_2"] = str(_table(t / "label-2.tsv", [(s, 2) for s, _ in rows[:8]]))
    files["tsv_nan"] = str(_table(t / "nan.tsv", [(s, v) for (s, _), v in
                                                  zip(rows[:8], [0.5, 1.5, "nan", 2.25] * 2,
                                                      strict=True)]))
    files["tsv_inf"] = str(_table(t / "inf.tsv", [(s, v) for (s, _), v in
                                                  zip(rows[:8], [0.5, 1.5, "inf", 2.25] * 2,
                                                      strict=True)]))
    files["tsv_huge_ids"] = str(_table(t / "huge-ids.tsv", [(s, [0, 1000000][y]) for s, y in
                                                            rows[:32]]))
    big = "word " * 30000  # 150 kB in one field: more than the csv module's 128 KiB limit
    files["tsv_big_field"] = str(_table(t / "big-field.tsv", [*rows[:8], (big, 0)]))
    files["tsv_nul"] = str(_table(t / "nul.tsv", [*rows[:8], ("a\x00b", 1)]))
    files["tsv_not_utf8"] = str(t / "latin1.tsv")
    Path(files["tsv_not_utf8"]).write_bytes("text\tlabel\ncaf\xe9 au lait\t1\n".encode("latin-1"))
    files["tsv_empty"] = str(t / "empty.tsv")
    Path(files["tsv_empty"]).write_text("")
    files["tsv_header_only"] = str(t / "header-only.tsv")
    Path(files["tsv_header_only"]).write_text("text\tlabel\n")
    files["tsv_no_label"] = str(t / "no-label.tsv")
    Path(files["tsv_no_label"]).write_text("sentence\tscore\nfine\t1\n")
    files["tsv_short_row"] = str(t / "short-row.tsv")
    Path(files["tsv_short_row"]).write_text("text\tlabel\ngood\t1\nbad\n")
    files["tsv_negative"] = str(_table(t / "negative.tsv", [(s, y - 1) for s, y in rows[:16]]))
    files["not_a_table"] = str(t / "data.json")
    Path(files["not_a_table"]).write_text("{}")
    _audio(root / "audio", files)
    _images(root / "images", files)


def _audio(root: Path, files: dict[str, str]) -> None:
    rng = np.random.default_rng(0)

    def noise() -> np.ndarray:
        return (rng.standard_normal(1600) * 1000).astype(np.int16)

    for name in ("good", "odd-bytes", "8khz", "not-wav", "one-class", "no-wavs", "stereo"):
        for label in ("yes", "no"):
            if name == "one-class" and label == "no":
                continue
            for i in range(3):
                path = root / name / label / f"{i}.wav"
                if name == "no-wavs":
                    path.with_suffix(".txt").parent.mkdir(parents=True, exist_ok=True)
                    path.with_suffix(".txt").write_text("no audio here")
                elif name == "not-wav" and i == 0 and label == "yes":
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text("this is not a wav file")
                elif name == "odd-bytes" and i == 0 and label == "yes":
                    _wav(path, noise(), extra=b"\x01")
                elif name == "8khz" and i == 0 and label == "yes":
                    _wav(path, noise(), rate=8000)
                elif name == "stereo" and i == 0 and label == "yes":
                    path.parent.mkdir(parents=True, exist_ok=True)
                    with wave.open(str(path), "wb") as out:
                        out.setnchannels(2)
                        out.setsampwidth(2)
                        out.setframerate(16000)
                        out.writeframes(noise().tobytes())
                else:
                    _wav(path, noise())
        files[f"wav_{name.replace('-', '_')}"] = str(root / name)
    files["wav_file_odd"] = str(root / "odd-bytes" / "yes" / "0.wav")
    files["wav_file_good"] = str(root / "good" / "yes" / "0.wav")
    files["wav_file_not_wav"] = str(root / "not-wav" / "yes" / "0.wav")


def _images(root: Path, files: dict[str, str]) -> None:
    for name in ("good", "bomb", "corrupt", "one-class", "mixed-sizes", "no-images"):
        for label, value in (("dark", 30), ("light", 220)):
            if name == "one-class" and label == "light":
                continue
            for i in range(3):
                path = root / name / label / f"{i}.png"
                if name == "bomb" and i == 0 and label == "dark":
                    _png_bomb(path)
                elif name == "corrupt" and i == 0 and label == "dark":
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
                elif name == "mixed-sizes" and i == 0 and label == "dark":
                    _png(path, value, size=32)
                elif name == "no-images":
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.with_suffix(".txt").write_text("no image here")
                else:
                    _png(path, value + i)
        files[f"img_{name.replace('-', '_')}"] = str(root / name)
    files["img_file_bomb"] = str(root / "bomb" / "dark" / "0.png")
    files["img_file_good"] = str(root / "good" / "dark" / "1.png")
    files["img_file_corrupt"] = str(root / "corrupt" / "dark" / "0.png")


# ---------------------------------------------------------------------------- recipes, runs
def _recipes(root: Path, files: dict[str, str]) -> None:
    r = root / "recipes"
    recipes: dict[str, Any] = {
        "good": good_recipe(),
        "not_yaml": "version: 1\ntask: [fashion-mnist\n",
        "a_list": "- 1\n- 2\n",
        "empty": "",
        "binary": None,
        "no_version": {k: v for k, v in good_recipe().items() if k != "version"},
        "version_2": good_recipe(version=2),
        "unknown_top": good_recipe(stagez=[]),
        "unknown_stage": good_recipe(stages=[{"finetunez": {}}]),
        "stages_empty": good_recipe(stages=[]),
        "steps_string": good_recipe(stages=[{"finetune": {}, "train": {"steps": "ten"}}]),
        "lr_negative": good_recipe(stages=[{"finetune": {}, "train": {"lr": -1.0}}]),
        "sparsity_big": good_recipe(stages=[{"magnitude-pruning": {"sparsity": 1.5}}]),
        "bits_3": good_recipe(stages=[{"weight-only": {"bits": 3}}]),
        "seed_string": good_recipe(seed="zero"),
        "limit_zero": good_recipe(task={"name": "fashion-mnist", "limit": {"train": 0}}),
        "limit_bad_split": good_recipe(task={"name": "fashion-mnist", "limit": {"nope": 5}}),
        "unknown_task": good_recipe(task="imagenet"),
        "unknown_arch": good_recipe(teacher={"arch": "resnet9000"}),
        "arch_config_bad": good_recipe(teacher={"arch": "fashion-cnn",
                                                "config": {"channels": "many"}}),
        "teacher_missing_dir": good_recipe(teacher={"model": "/nonexistent/model-dir"}),
        "text_on_images": None,  # filled in below: it needs the text model's path
        "data_missing": good_recipe(task={"data": {"train": "/nonexistent/train.tsv"}}),
        "one_class_data": None,
        "threads_zero": good_recipe(measure={"threads": 0}),
        "calibration_zero": good_recipe(stages=[{"int8-static": {}, "calibration": 0}]),
        "export_opset_1": good_recipe(stages=[{"export": {"opset": 1}}]),
        "exporter_bogus": good_recipe(stages=[{"export": {"exporter": "bogus"}}]),
        "runner_key": good_recipe(stages=[{"finetune": {}, "train": {"resume": True}}]),
        "deep": "a: " + "[" * 5000 + "]" * 5000 + "\n",
        "huge_number": good_recipe(seed=10**40),
    }
    recipes["text_on_images"] = good_recipe(teacher={"model": files["text"]})
    recipes["one_class_data"] = good_recipe(task={"data": {"train": files["tsv_one_class"]},
                                                  "holdout": 0.25},
                                            teacher={"model": files["text"]})
    for name, data in recipes.items():
        path = r / f"{name}.yaml"
        if data is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(bytes(range(256)) * 4)
        else:
            _recipe(path, data)
        files[f"recipe_{name}"] = str(path)
    files["recipe_dir"] = str(r)


def _runs(root: Path, files: dict[str, str]) -> None:
    """Run directories to --resume: one whose training checkpoint is damaged in each way."""
    from tinyai.recipe.schema import parse_recipe

    recipe = parse_recipe(good_recipe(stages=[{"finetune": {}, "train": {"steps": 4,
                                                                        "batch_size": 16}}]))
    recipe_path = root / "recipes" / "resume.yaml"
    _recipe(recipe_path, good_recipe(stages=[{"finetune": {}, "train": {"steps": 4,
                                                                        "batch_size": 16}}]))
    files["recipe_resume"] = str(recipe_path)
    checkpoints: dict[str, bytes | None] = {
        "garbage": b"not a checkpoint at all",
        "empty": b"",
        "pickled": pickle.dumps({"model": {}, "step": 3}),
        "truncated": None,  # a real zip header, cut short
    }
    for name, payload in checkpoints.items():
        run = root / "runs" / name
        folder = run / "stages" / "01-finetune" / "checkpoints"
        folder.mkdir(parents=True)
        (run / "recipe.yaml").write_text(recipe.to_yaml())
        if payload is None:
            payload = b"PK\x03\x04" + b"\x00" * 60
        (folder / "checkpoint.pt").write_bytes(payload)
        files[f"run_ckpt_{name}"] = str(run)
    foreign = root / "runs" / "foreign"
    folder = foreign / "stages" / "01-finetune" / "checkpoints"
    folder.mkdir(parents=True)
    (foreign / "recipe.yaml").write_text(recipe.to_yaml())
    (folder / "checkpoint.json").write_text(json.dumps({"step": 2, "total": 4, "fingerprint": {
        "model": "0123456789abcdef", "total_steps": 4, "batch_size": 16}}))
    files["run_ckpt_foreign"] = str(foreign)
    changed = root / "runs" / "changed-recipe"
    changed.mkdir(parents=True)
    (changed / "recipe.yaml").write_text(parse_recipe(good_recipe()).to_yaml())
    files["run_changed"] = str(changed)
    _report_runs(root / "runs", files)
    files["run_not_a_run"] = str(root / "runs" / "notes")
    Path(files["run_not_a_run"]).mkdir()
    (Path(files["run_not_a_run"]) / "notes.txt").write_text("mine")


def _report_runs(root: Path, files: dict[str, str]) -> None:
    """metrics.json files for `tinyai report`: a good (empty) one, and damaged ones."""
    from tinyai.recipe.records import MachineInfo, RunMetrics, TaskInfo

    good = RunMetrics(recipe={}, task=TaskInfo("fashion-mnist", "image-classification",
                                               "accuracy", True, "test"),
                      machine=MachineInfo.current(1)).to_dict()
    for name, text in (("good", json.dumps(good)), ("bad-metrics", "{ not json"),
                       ("metrics-wrong-type", json.dumps({**good, "schema_version": "two",
                                                          "stages": 5}))):
        (root / name).mkdir(parents=True)
        (root / name / "metrics.json").write_text(text)
        files[f"run_{name.replace('-', '_')}"] = str(root / name)


def make_files(root: Path) -> dict[str, str]:
    files: dict[str, str] = {"root": str(root)}
    _models(root, files)
    _user_data(root / "data", files)
    _recipes(root, files)
    _runs(root, files)
    files["a_file"] = str(root / "a-file.txt")
    Path(files["a_file"]).write_text("a file, not a folder")
    files["long_path"] = str(root / ("x" * 300) / "out")
    files["binary_stdin"] = ""  # the table passes bytes for this itself
    return files
