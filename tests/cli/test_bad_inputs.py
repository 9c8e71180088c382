"""Every bad input gets one line: a table of command lines through the real CLI.

Each row is a command line a careless or hostile user could type, with the words its one-line
message must contain. Every row must end with exit status 2, exactly one line on stderr
starting "error:", no traceback, and no output left behind: neither the output path it named
nor a hidden staging folder beside it. The rows cover every command and every kind of input:
options, model directories, artifacts, recipes, the user's tables, wav and image folders,
run directories and checkpoints (the files are made by bad_input_files.py).

The rows run in one `python tests/cli/run_cases.py` process (`tinyai.cli.main` per row, as
the `tinyai` script calls it), so the table pays for importing torch once; a sample of rows is
also run as separate `python -m tinyai` processes and must end exactly the same way.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bad_input_files import make_files  # noqa: E402


@dataclass(frozen=True)
class Case:
    id: str
    line: str  # the command line after `tinyai`; {name} is a file from make_files, {out} a
    #            fresh output path of this row
    expect: str  # words the message must contain (case-insensitive); "|" separates options
    stdin: bytes = b""
    early: bool = True  # refused before any work: the error is all stderr holds (else the
    #                     progress of the work done before the problem showed may precede it)


C = Case
CASES = [
    # ------------------------------------------------------------------ the program itself
    C("unknown-command", "frobnicate", "no such command"),
    C("global-unknown-option", "--verbose version", "no such option"),
    C("version-extra-argument", "version extra", "unexpected extra argument"),
    C("techniques-unknown-option", "techniques --jsn", "no such option"),
    # ------------------------------------------------------------------ predict
    C("predict-missing-artifact", "predict /nonexistent/artifact hello",
      "not an artifact directory"),
    C("predict-file-not-artifact", "predict {a_file} hello", "not an artifact|not a directory"),
    C("predict-empty-dir", "predict {model_empty_dir} hello", "manifest.json"),
    C("predict-model-dir-not-artifact", "predict {cnn} {img_file_good}", "manifest.json"),
    C("predict-manifest-not-json", "predict {art_manifest_not_json} {img_file_good}", "json"),
    C("predict-tampered-labels", "predict {art_tampered_labels} {img_file_good}",
      "modified after export"),
    C("predict-labels-wrong-type", "predict {art_labels_wrong_type} {img_file_good}",
      "label_names"),
    C("predict-inputs-wrong-type", "predict {art_inputs_wrong_type} {img_file_good}", "inputs"),
    C("predict-height-string", "predict {art_height_string} {img_file_good}", "height"),
    C("predict-model-missing", "predict {art_no_model} {img_file_good}", "model.onnx"),
    C("predict-unlisted-file", "predict {art_extra_file} {img_file_good}", "notes.txt"),
    C("predict-truncated-model", "predict {art_truncated_model} {img_file_good}", "model.onnx"),
    C("predict-threads-0", "predict {cnn_art} {img_file_good} --threads 0", "--threads"),
    C("predict-top-k-0", "predict {cnn_art} {img_file_good} --top-k 0", "--top-k"),
    C("predict-threads-word", "predict {cnn_art} {img_file_good} --threads many", "--threads"),
    C("predict-max-chars-0", "predict {char_art} hello --max-chars 0", "--max-chars"),
    C("predict-temperature-negative", "predict {char_art} hello --temperature -1",
      "--temperature"),
    C("predict-temperature-nan", "predict {char_art} hello --temperature nan", "temperature"),
    C("predict-temperature-inf", "predict {char_art} hello --temperature inf", "temperature"),
    C("predict-char-unknown-characters", "predict {char_art} 'naïve €'", "vocabulary"),
    C("predict-image-bomb", "predict {cnn_art} {img_file_bomb}", "pixels"),
    C("predict-image-corrupt", "predict {cnn_art} {img_file_corrupt}", "not a readable image"),
    C("predict-image-missing", "predict {cnn_art} /nonexistent/shirt.png", "does not exist"),
    C("predict-image-is-folder", "predict {cnn_art} {img_good}", "not a file|does not exist"),
    C("predict-image-path-too-long", "predict {cnn_art} {long_path}.png", "too long"),
    C("predict-artifact-path-too-long", "predict {long_path} hello", "too long"),
    C("predict-wav-odd-bytes", "predict {kws_art} {wav_file_odd}", "odd|whole samples"),
    C("predict-wav-not-wav", "predict {kws_art} {wav_file_not_wav}", "not a readable wav"),
    C("predict-wav-8khz", "predict {kws_art} {wav_8khz}/yes/0.wav", "16 khz"),
    C("predict-wav-stereo", "predict {kws_art} {wav_stereo}/yes/0.wav", "mono"),
    C("predict-binary-stdin-text", "predict {text_art}", "utf-8", stdin=bytes(range(256))),
    C("predict-empty-stdin", "predict {text_art}", "nothing to predict"),
    C("predict-blank-stdin", "predict {text_art}", "nothing to predict", stdin=b"\n  \n"),
    C("predict-image-is-device", "predict {cnn_art} /dev/zero", "not a regular file"),
    C("predict-wav-is-device", "predict {kws_art} /dev/zero", "not a regular file"),
    # ------------------------------------------------------------------ listen
    C("listen-missing-recording", "listen {kws_art} /nonexistent/rec.wav", "does not exist"),
    C("listen-recording-is-folder", "listen {kws_art} {img_good}", "is a folder"),
    C("listen-recording-is-device", "listen {kws_art} /dev/zero", "not a regular file"),
    C("listen-not-wav", "listen {kws_art} {wav_file_not_wav}", "not a readable wav"),
    C("listen-odd-bytes", "listen {kws_art} {wav_file_odd}", "whole 16-bit samples"),
    C("listen-8khz", "listen {kws_art} {wav_8khz}/yes/0.wav", "16 khz"),
    C("listen-hop-too-long", "listen {kws_art} {wav_file_good} --hop 1", "--hop 0.1"),
    C("listen-smooth-0", "listen {kws_art} {wav_file_good} --smooth 0", "smooth"),
    C("listen-threshold-2", "listen {kws_art} {wav_file_good} --threshold 2", "threshold"),
    C("listen-refractory-negative", "listen {kws_art} {wav_file_good} --refractory -1",
      "refractory"),
    C("listen-text-artifact", "listen {text_art} {wav_file_good}", "keyword-spotting"),
    C("listen-missing-artifact", "listen /nonexistent/art {wav_file_good}",
      "not an artifact directory"),
    # ------------------------------------------------------------------ app
    C("app-missing-artifact", "app /nonexistent/art -o {out}", "not an artifact directory"),
    C("app-image-artifact", "app {cnn_art} -o {out}", "character model"),
    C("app-out-is-a-file", "app {char_art} -o {a_file}", "not a directory"),
    C("app-out-unwritable", "app {char_art} -o /proc/tinyai/app", "cannot write"),
    C("app-no-onnxruntime-web", "app {char_art} -o {out}", "onnxruntime-web"),  # TINYAI_CACHE
    #   is the table's own empty cache, so the page's runtime files are missing
    C("app-no-out", "app {char_art}", "--out"),
    # ------------------------------------------------------------------ demo
    C("demo-missing-recipe", "demo --recipe /nonexistent/r.yaml -o {out}", "does not exist"),
    C("demo-recipe-not-yaml", "demo --recipe {recipe_not_yaml} -o {out}", "not valid yaml"),
    C("demo-out-is-a-file", "demo -o {a_file}", "not a tinyai run"),
    C("demo-out-foreign-folder", "demo -o {run_not_a_run}", "not a tinyai run"),
    C("demo-resume-nothing", "demo --resume -o {out}", "no run to resume"),
    # ------------------------------------------------------------------ bench
    C("bench-threads-0", "bench {cnn_art} --threads 0", "--threads"),
    C("bench-runs-0", "bench {cnn_art} --runs 0", "--runs"),
    C("bench-batch-size-0", "bench {cnn_art} --batch-size 0", "--batch-size"),
    C("bench-warmup-negative", "bench {cnn_art} --warmup -1", "--warmup"),
    C("bench-runs-word", "bench {cnn_art} --runs lots", "--runs"),
    C("bench-missing", "bench /nonexistent/artifact", "not an artifact directory"),
    C("bench-tampered", "bench {art_tampered_labels}", "modified after export"),
    C("bench-out-parent-is-file", "bench {cnn_art} --runs 1 --out {a_file}/bench.json",
      "cannot write|not a directory"),
    # ------------------------------------------------------------------ evaluate
    C("evaluate-limit-0", "evaluate {cnn_art} --limit 0", "--limit"),
    C("evaluate-limit-negative", "evaluate {cnn_art} --limit -1", "--limit"),
    C("evaluate-batch-size-0", "evaluate {cnn_art} --batch-size 0", "--batch-size"),
    C("evaluate-threads-0", "evaluate {cnn_art} --threads 0", "--threads"),
    C("evaluate-missing", "evaluate /nonexistent/thing", "nor an existing directory"),
    C("evaluate-unknown-task", "evaluate {cnn_art} --task imagenet", "unknown task"),
    C("evaluate-other-labels", "evaluate {cnn_art} --task sst2", "labels"),
    C("evaluate-text-artifact-on-images", "evaluate {text_art} --task fashion-mnist",
      "labels|kind"),
    C("evaluate-image-model-on-text", "evaluate {cnn} --task sst2", "image-classification"),
    C("evaluate-unknown-split", "evaluate {cnn_art} --split nope", "split"),
    C("evaluate-record-on-a-model", "evaluate {cnn} --task fashion-mnist --record", "--record"),
    C("evaluate-tampered", "evaluate {art_tampered_labels}", "modified after export"),
    C("evaluate-data-missing", "evaluate {cnn_art} --data train=/nonexistent/x.tsv",
      "does not exist"),
    C("evaluate-holdout-1", "evaluate {cnn} --task fashion-mnist --holdout 1", "holdout"),
    # ------------------------------------------------------------------ summary
    C("summary-shape-malformed", "summary {cnn} --input-shape 1xabc", "shape"),
    C("summary-shape-zero", "summary {cnn} --input-shape 0x1x28x28", ">= 1"),
    C("summary-shape-unknown-input", "summary {cnn} --input-shape foo=1x2", "inputs"),
    C("summary-shape-wrong-rank", "summary {cnn} --input-shape 1x5", "cannot run"),
    C("summary-missing-model", "summary /nonexistent/model", "nor an existing directory"),
    C("summary-unknown-short-name", "summary bert-huge", "bert-huge"),
    C("summary-truncated-weights", "summary {model_truncated}", "model.safetensors"),
    C("summary-empty-weights", "summary {model_empty_weights}", "model.safetensors"),
    C("summary-pickled-weights", "summary {model_pickled_weights}", "model.safetensors"),
    C("summary-no-weights", "summary {model_no_weights}", "model.safetensors"),
    C("summary-config-not-json", "summary {model_config_not_json}", "config.json"),
    C("summary-config-wrong-type", "summary {model_config_wrong_type}", "channels"),
    C("summary-structure-not-json", "summary {model_structure_not_json}", "structure.json"),
    C("summary-structure-without-records", "summary {model_structure_no_records}",
      "structure.json"),
    C("summary-structure-unknown-record", "summary {model_structure_unknown_record}",
      "os.system"),
    C("summary-empty-dir", "summary {model_empty_dir}", "config.json|model"),
    C("summary-a-tampered-artifact", "summary {art_tampered_labels}", "modified after export"),
    # ------------------------------------------------------------------ inspect
    C("inspect-missing", "inspect /nonexistent/artifact", "not an artifact directory"),
    C("inspect-a-model-dir", "inspect {cnn}", "manifest.json"),
    C("inspect-tampered", "inspect {art_tampered_labels}", "modified after export"),
    C("inspect-truncated-model", "inspect {art_truncated_model}", "truncated"),
    C("inspect-unlisted-file", "inspect {art_extra_file}", "notes.txt"),
    C("summary-path-too-long", "summary {long_path}", "too long"),
    # ------------------------------------------------------------------ init
    C("init-unknown-arch", "init resnet9000 {out} --task fashion-mnist", "unknown architecture"),
    C("init-config-not-a-pair", "init fashion-cnn {out} --task fashion-mnist --config channels",
      "key=value"),
    C("init-config-bad-value",
      "init fashion-cnn {out} --task fashion-mnist --config channels=many", "channels"),
    C("init-config-unknown-key",
      "init fashion-cnn {out} --task fashion-mnist --config chanels=4,8", "channels"),
    C("init-no-task", "init fashion-cnn {out}", "task"),
    C("init-unknown-task", "init fashion-cnn {out} --task imagenet", "unknown task"),
    C("init-out-is-a-file", "init fashion-cnn {a_file} --task fashion-mnist",
      "not a directory"),
    C("init-out-foreign-folder", "init fashion-cnn {run_not_a_run} --task fashion-mnist",
      "not written by tinyai"),
    C("init-out-parent-is-a-file", "init fashion-cnn {a_file}/model --task fashion-mnist",
      "cannot write|not a directory"),
    C("init-out-unwritable", "init fashion-cnn /proc/tinyai/model --task fashion-mnist",
      "cannot write"),
    C("init-out-path-too-long", "init fashion-cnn {long_path} --task fashion-mnist",
      "too long"),
    C("init-char-model-on-images", "init char-rnn {out} --task fashion-mnist", "char"),
    C("init-one-class-images", "init fashion-cnn {out} --data train={img_one_class}",
      "one class"),
    C("init-seed-negative", "init fashion-cnn {out} --task fashion-mnist --seed -1", "seed"),
    # ------------------------------------------------------------------ finetune: options
    C("finetune-steps-negative", "finetune {cnn} fashion-mnist --out {out} --steps -5", "steps"),
    C("finetune-lr-0", "finetune {cnn} fashion-mnist --out {out} --lr 0", "lr"),
    C("finetune-lr-nan", "finetune {cnn} fashion-mnist --out {out} --lr nan", "lr"),
    C("finetune-lr-inf", "finetune {cnn} fashion-mnist --out {out} --lr inf", "lr"),
    C("finetune-lr-negative", "finetune {cnn} fashion-mnist --out {out} --lr -0.1", "lr"),
    C("finetune-batch-size-0", "finetune {cnn} fashion-mnist --out {out} --batch-size 0",
      "batch_size"),
    C("finetune-epochs-0", "finetune {cnn} fashion-mnist --out {out} --epochs 0", "epochs"),
    C("finetune-epochs-nan", "finetune {cnn} fashion-mnist --out {out} --epochs nan", "epochs"),
    C("finetune-limit-negative", "finetune {cnn} fashion-mnist --out {out} --limit -1", "limit"),
    C("finetune-limit-0", "finetune {cnn} fashion-mnist --out {out} --limit 0", "limit"),
    C("finetune-eval-limit-0", "finetune {cnn} fashion-mnist --out {out} --eval-limit 0",
      "limit"),
    C("finetune-max-length-2", "finetune {text} sst2 --out {out} --max-length 2", "max_length"),
    C("finetune-holdout-1", "finetune {text} --data train={tsv_train} --out {out} --holdout 1",
      "holdout"),
    C("finetune-holdout-negative",
      "finetune {text} --data train={tsv_train} --out {out} --holdout -0.2", "holdout"),
    C("finetune-seed-negative", "finetune {cnn} fashion-mnist --out {out} --seed -3", "seed"),
    C("finetune-freeze-layers-negative",
      "finetune {text} sst2 --out {out} --freeze-layers -1", "freeze_layers"),
    C("finetune-task-and-data",
      "finetune {text} sst2 --data train={tsv_train} --out {out}", "not both"),
    C("finetune-no-task", "finetune {cnn} --out {out}", "task"),
    C("finetune-unknown-task", "finetune {cnn} imagenet --out {out}", "unknown task"),
    C("finetune-no-out", "finetune {cnn} fashion-mnist", "--out"),
    # ------------------------------------------------------------------ finetune: models
    C("finetune-text-model-on-images", "finetune {text} fashion-mnist --out {out} --steps 1",
      "text-classification"),
    C("finetune-image-model-on-text", "finetune {cnn} sst2 --out {out} --steps 1",
      "not a text encoder"),
    C("finetune-missing-model", "finetune /nonexistent/model fashion-mnist --out {out}",
      "nor an existing directory"),
    C("finetune-truncated-model", "finetune {model_truncated} fashion-mnist --out {out}",
      "model.safetensors"),
    C("finetune-out-parent-is-a-file", "finetune {cnn} fashion-mnist --out {a_file}/m",
      "cannot write|not a directory"),
    C("finetune-data-file-as-task", "finetune {cnn} {a_file} --out {out}", "--data train="),
    C("finetune-out-foreign-folder", "finetune {cnn} fashion-mnist --out {run_not_a_run}",
      "not written by tinyai"),
    C("finetune-out-path-too-long", "finetune {cnn} fashion-mnist --out {long_path}",
      "too long"),
    # ------------------------------------------------------------------ finetune: user data
    C("data-malformed", "finetune {text} --data train= --out {out}", "--data"),
    C("data-missing-file", "finetune {text} --data train=/nonexistent/t.tsv --out {out}",
      "does not exist"),
    C("data-not-a-table", "finetune {text} --data train={not_a_table} --out {out}",
      "not a table"),
    C("tsv-one-class", "finetune {text} --data train={tsv_one_class} --holdout 0.25 --out {out}",
      "one class"),
    C("tsv-class-ids-huge",
      "finetune {text} --data train={tsv_huge_ids} --holdout 0.25 --out {out}", "1000000"),
    C("tsv-field-over-128k", "finetune {text} --data train={tsv_big_field} --holdout 0.25 "
      "--out {out}", "field"),
    C("tsv-not-utf8", "finetune {text} --data train={tsv_not_utf8} --out {out}", "utf-8"),
    C("tsv-empty", "finetune {text} --data train={tsv_empty} --out {out}", "is empty"),
    C("tsv-header-only", "finetune {text} --data train={tsv_header_only} --out {out}",
      "no rows"),
    C("tsv-no-label-column", "finetune {text} --data train={tsv_no_label} --out {out}",
      "column"),
    C("tsv-short-row", "finetune {text} --data train={tsv_short_row} --out {out}",
      "fewer fields"),
    C("tsv-negative-label", "finetune {text} --data train={tsv_negative} --holdout 0.25 "
      "--out {out}", ">= 0"),
    C("tsv-nan-scores", "finetune {text} --data train={tsv_nan} --holdout 0.25 --out {out}",
      "nan"),
    C("tsv-inf-scores", "finetune {text} --data train={tsv_inf} --holdout 0.25 --out {out}",
      "inf"),
    C("tsv-test-split-unknown-label", "finetune {text} --data train={tsv_train},"
      "test={tsv_label_2} --out {out} --steps 1", "not in label_names"),
    C("csv-one-class", "finetune {text} --data train={csv_one_class} --holdout 0.25 "
      "--out {out}", "one class"),
    C("wav-odd-bytes", "finetune {kws} --data train={wav_odd_bytes} --holdout 0.3 --out {out}",
      "odd|whole samples"),
    C("wav-8khz", "finetune {kws} --data train={wav_8khz} --holdout 0.3 --out {out}", "16 khz"),
    C("wav-not-wav", "finetune {kws} --data train={wav_not_wav} --holdout 0.3 --out {out}",
      "not a readable wav"),
    C("wav-stereo", "finetune {kws} --data train={wav_stereo} --holdout 0.3 --out {out}",
      "mono"),
    C("wav-one-class", "finetune {kws} --data train={wav_one_class} --holdout 0.3 --out {out}",
      "one class"),
    C("wav-none", "finetune {kws} --data train={wav_no_wavs} --holdout 0.3 --out {out}",
      "no class sub-folders|no .wav"),
    C("image-bomb", "finetune {cnn} --data train={img_bomb} --holdout 0.3 --out {out}",
      "pixels"),
    C("image-corrupt", "finetune {cnn} --data train={img_corrupt} --holdout 0.3 --out {out}",
      "not a readable image"),
    C("image-one-class", "finetune {cnn} --data train={img_one_class} --holdout 0.3 --out {out}",
      "one class"),
    C("image-mixed-sizes", "finetune {cnn} --data train={img_mixed_sizes} --holdout 0.3 "
      "--out {out}", "image_size|resize"),
    C("image-none", "finetune {cnn} --data train={img_no_images} --holdout 0.3 --out {out}",
      "no class sub-folders|no images"),
    C("audio-data-for-an-image-model",
      "finetune {cnn} --data train={wav_good} --holdout 0.3 --out {out} --steps 1",
      "image-classification"),
    # ------------------------------------------------------------------ distill
    C("distill-layers-malformed", "distill {text} sst2 --out {out} --layers a,b", "--layers"),
    C("distill-layers-out-of-range", "distill {text} sst2 --out {out} --layers 0,7 --limit 64 "
      "--eval-limit 32 --no-bench", "layer 7", early=False),
    C("distill-temperature-0", "distill {text} sst2 --out {out} --temperature 0", "temperature"),
    C("distill-alpha-2", "distill {text} sst2 --out {out} --alpha 2", "alpha"),
    C("distill-augment-negative", "distill {text} sst2 --out {out} --augment -2", "copies"),
    C("distill-vocab-size-0", "distill {text} sst2 --out {out} --vocab-size 0", "vocab_size"),
    C("distill-unknown-arch", "distill {text} sst2 --out {out} --arch resnet", "architecture"),
    C("distill-image-teacher-layers", "distill {cnn} fashion-mnist --out {out} --layers 0 "
      "--limit 64 --eval-limit 32 --no-bench", "no bert encoder", early=False),
    # ------------------------------------------------------------------ prune
    C("prune-neither", "prune {cnn} fashion-mnist --out {out}", "exactly one"),
    C("prune-both", "prune {cnn} --sparsity 0.5 --ratio 0.5 --dry-run", "exactly one"),
    C("prune-sparsity-1.5", "prune {cnn} fashion-mnist --sparsity 1.5 --out {out}", "sparsity"),
    C("prune-sparsity-negative-dry-run", "prune {cnn} --sparsity -0.5 --dry-run", "sparsity"),
    C("prune-ratio-1-dry-run", "prune {cnn} --ratio 1.0 --dry-run", "ratio"),
    C("prune-ratio-nan-dry-run", "prune {cnn} --ratio nan --dry-run", "ratio"),
    C("prune-scope-bogus", "prune {cnn} --sparsity 0.5 --scope planet --dry-run", "scope"),
    C("prune-importance-bogus", "prune {cnn} --ratio 0.5 --importance vibes --dry-run",
      "importance"),
    C("prune-target-bogus", "prune {cnn} --ratio 0.5 --target elbows --dry-run", "target"),
    C("prune-no-out", "prune {cnn} fashion-mnist --sparsity 0.5", "--out"),
    C("prune-missing-model", "prune /nonexistent/m --sparsity 0.5 --dry-run",
      "nor an existing directory"),
    C("prune-pickled-weights", "prune {model_pickled_weights} --sparsity 0.5 --dry-run",
      "model.safetensors"),
    C("prune-structure-unknown-record",
      "prune {model_structure_unknown_record} --sparsity 0.5 --dry-run", "os.system"),
    # ------------------------------------------------------------------ quantize
    C("quantize-unknown-scheme", "quantize {cnn} {out} --task fashion-mnist --scheme int7",
      "unknown scheme"),
    C("quantize-bits-3", "quantize {cnn} {out} --task fashion-mnist --scheme weight-only "
      "--bits 3", "bits"),
    C("quantize-bits-0", "quantize {cnn} {out} --task fashion-mnist --scheme weight-only "
      "--bits 0", "bits"),
    C("quantize-group-size-0", "quantize {cnn} {out} --task fashion-mnist --scheme weight-only "
      "--group-size 0", "group size"),
    C("quantize-observer-bogus", "quantize {cnn} {out} --task fashion-mnist --scheme "
      "int8-static --observer vibes", "observer"),
    C("quantize-calibration-0", "quantize {cnn} {out} --task fashion-mnist --scheme int8-static "
      "--calibration 0", "calibration"),
    C("quantize-option-of-another-scheme", "quantize {cnn} {out} --task fashion-mnist --bits 4",
      "does not apply"),
    C("quantize-embedding-bits-5", "quantize {text} {out} --task sst2 --scheme weight-only "
      "--embedding-bits 5", "embedding_bits"),
    C("quantize-budget-negative", "quantize {cnn} {out} --task fashion-mnist --scheme "
      "mixed-precision --budget-bytes -5", "budget"),
    C("quantize-qat-without-steps", "quantize {cnn} {out} --task fashion-mnist --scheme qat",
      "train"),
    C("quantize-no-task", "quantize {cnn} {out}", "task"),
    C("quantize-save-model-foreign-folder", "quantize {cnn} {out} --task fashion-mnist "
      "--save-model {run_not_a_run}", "not written by tinyai"),
    C("quantize-out-is-a-file", "quantize {cnn} {a_file} --task fashion-mnist",
      "not a directory"),
    # ------------------------------------------------------------------ export
    C("export-exporter-bogus", "export {cnn} {out} --task fashion-mnist --exporter bogus",
      "exporter"),
    C("export-opset-1", "export {cnn} {out} --task fashion-mnist --opset 1", "opset"),
    C("export-opset-99", "export {cnn} {out} --task fashion-mnist --opset 99", "opset"),
    C("export-text-model-on-images", "export {text} {out} --task fashion-mnist",
      "text-classification"),
    C("export-image-model-on-audio", "export {cnn} {out} --task speech-commands",
      "image-classification"),
    C("export-image-model-on-text", "export {cnn} {out} --task sst2", "image-classification"),
    C("export-out-foreign-folder", "export {cnn} {run_not_a_run} --task fashion-mnist",
      "not written by tinyai"),
    C("export-over-an-artifact-with-user-files", "export {cnn} {art_extra_file} --task "
      "fashion-mnist", "notes.txt"),
    C("export-out-unwritable", "export {cnn} /proc/tinyai/art --task fashion-mnist",
      "cannot write"),
    C("export-out-parent-is-a-file", "export {cnn} {a_file}/art --task fashion-mnist",
      "cannot write|not a directory"),
    C("export-eval-limit-0", "export {cnn} {out} --task fashion-mnist --eval-limit 0", "limit"),
    C("export-missing-model", "export /nonexistent/m {out} --task fashion-mnist",
      "nor an existing directory"),
    C("export-pickled-weights", "export {model_pickled_weights} {out} --task fashion-mnist",
      "model.safetensors"),
    C("export-empty-weights", "export {model_empty_weights} {out} --task fashion-mnist",
      "model.safetensors"),
    # ------------------------------------------------------------------ compress: recipes
    C("compress-missing-recipe", "compress /nonexistent/r.yaml -o {out}", "does not exist"),
    C("compress-recipe-is-a-folder", "compress {recipe_dir} -o {out}", "is a folder"),
    C("compress-no-out", "compress {recipe_good}", "-o"),
    C("compress-resume-and-force", "compress {recipe_good} -o {out} --resume --force",
      "--resume"),
    C("recipe-not-yaml", "compress {recipe_not_yaml} -o {out}", "not valid yaml"),
    C("recipe-a-list", "compress {recipe_a_list} -o {out}", "mapping"),
    C("recipe-empty", "compress {recipe_empty} -o {out}", "mapping"),
    C("recipe-binary", "compress {recipe_binary} -o {out}", "utf-8|yaml"),
    C("recipe-no-version", "compress {recipe_no_version} -o {out}", "version"),
    C("recipe-version-2", "compress {recipe_version_2} -o {out}", "version"),
    C("recipe-unknown-key", "compress {recipe_unknown_top} -o {out}", "stagez"),
    C("recipe-unknown-technique", "compress {recipe_unknown_stage} -o {out}", "finetunez"),
    C("recipe-no-stages", "compress {recipe_stages_empty} -o {out}", "stages"),
    C("recipe-steps-a-word", "compress {recipe_steps_string} -o {out}", "steps"),
    C("recipe-lr-negative", "compress {recipe_lr_negative} -o {out}", "lr"),
    C("recipe-sparsity-1.5", "compress {recipe_sparsity_big} -o {out}", "sparsity"),
    C("recipe-bits-3", "compress {recipe_bits_3} -o {out}", "bits"),
    C("recipe-seed-a-word", "compress {recipe_seed_string} -o {out}", "seed"),
    C("recipe-seed-huge", "compress {recipe_huge_number} -o {out}", "seed"),
    C("recipe-limit-0", "compress {recipe_limit_zero} -o {out}", "limit"),
    C("recipe-limit-unknown-split", "compress {recipe_limit_bad_split} -o {out}", "nope"),
    C("recipe-unknown-task", "compress {recipe_unknown_task} -o {out}", "imagenet"),
    C("recipe-unknown-arch", "compress {recipe_unknown_arch} -o {out}", "resnet9000"),
    C("recipe-arch-config-bad", "compress {recipe_arch_config_bad} -o {out}", "channels"),
    C("recipe-teacher-missing", "compress {recipe_teacher_missing_dir} -o {out}",
      "nor an existing directory"),
    C("recipe-text-model-on-images", "compress {recipe_text_on_images} -o {out}",
      "text-classification"),
    C("recipe-data-missing", "compress {recipe_data_missing} -o {out}", "does not exist"),
    C("recipe-one-class-data", "compress {recipe_one_class_data} -o {out}", "one class"),
    C("recipe-threads-0", "compress {recipe_threads_zero} -o {out}", "threads"),
    C("recipe-calibration-0", "compress {recipe_calibration_zero} -o {out}", "calibration"),
    C("recipe-opset-1", "compress {recipe_export_opset_1} -o {out}", "opset"),
    C("recipe-exporter-bogus", "compress {recipe_exporter_bogus} -o {out}", "exporter"),
    C("recipe-runner-key", "compress {recipe_runner_key} -o {out}", "resume"),
    C("recipe-nested-too-deep", "compress {recipe_deep} -o {out}", "yaml|deep|nested"),
    C("compress-out-foreign-folder", "compress {recipe_good} -o {run_not_a_run}",
      "not a tinyai run directory"),
    C("compress-out-is-a-file", "compress {recipe_good} -o {a_file}", "not a tinyai run|not a"),
    C("compress-out-unwritable", "compress {recipe_good} -o /proc/tinyai/run", "cannot write"),
    C("compress-reuse-not-a-run", "compress {recipe_good} -o {out} --reuse {run_not_a_run}",
      "holds no tinyai run"),
    # ------------------------------------------------------------------ compress: resume
    C("resume-nothing-there", "compress {recipe_good} -o {out} --resume", "no run to resume"),
    C("resume-changed-recipe", "compress {recipe_resume} -o {run_changed} --resume",
      "recipe changed"),
    C("resume-garbage-checkpoint", "compress {recipe_resume} -o {run_ckpt_garbage} --resume",
      "not a tinyai checkpoint", early=False),
    C("resume-empty-checkpoint", "compress {recipe_resume} -o {run_ckpt_empty} --resume",
      "not a tinyai checkpoint", early=False),
    C("resume-pickled-checkpoint", "compress {recipe_resume} -o {run_ckpt_pickled} --resume",
      "not a tinyai checkpoint", early=False),
    C("resume-truncated-checkpoint",
      "compress {recipe_resume} -o {run_ckpt_truncated} --resume",
      "not a tinyai checkpoint", early=False),
    C("resume-foreign-checkpoint", "compress {recipe_resume} -o {run_ckpt_foreign} --resume",
      "model (its layers and shapes)", early=False),
    # ------------------------------------------------------------------ report
    C("report-missing-run", "report /nonexistent/run", "does not exist|metrics.json"),
    C("report-not-a-run", "report {run_not_a_run}", "metrics.json"),
    C("report-two-runs-no-out", "report {run_not_a_run} {run_changed}", "-o"),
    C("report-metrics-not-json", "report {run_bad_metrics}", "metrics.json"),
    C("report-metrics-wrong-type", "report {run_metrics_wrong_type}", "schema version"),
    C("report-out-is-a-file", "report {run_good} -o {a_file}", "is a file"),
]


def _fill(text: str, files: dict[str, str], out: str) -> list[str]:
    return shlex.split(text.format(out=out, **files))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return make_files(tmp_path_factory.mktemp("bad-inputs"))


@pytest.fixture(scope="module")
def results(files: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Every row run once, in one process; id -> what it printed and its exit status."""
    work = tmp_path_factory.mktemp("bad-input-runs")
    env = {"TINYAI_CACHE": str(work / "cache")}
    cases = [{"id": c.id, "argv": _fill(c.line, files, str(work / "out" / c.id)),
              "stdin_b64": base64.b64encode(c.stdin).decode(), "cwd": str(work), "env": env}
             for c in CASES]
    (work / "cases.json").write_text(json.dumps(cases))
    start = time.perf_counter()
    subprocess.run([sys.executable, str(HERE / "run_cases.py"), str(work / "cases.json"),
                    str(work / "results.json")], check=True, timeout=1500,
                   env={**os.environ, "COLUMNS": "200"})
    print(f"{len(cases)} bad inputs in {time.perf_counter() - start:.1f} s")
    done = {r["id"]: r for r in json.loads((work / "results.json").read_text())}
    done["__work__"] = {"path": str(work)}
    return done


def test_the_table_has_a_hundred_distinct_cases() -> None:
    assert len({c.id for c in CASES}) == len(CASES) >= 100
    assert len({(c.line, c.stdin) for c in CASES}) == len(CASES)


def _check_one_line(result: dict, case: Case) -> None:
    assert result["crash"] is None, result["crash"]
    lines = [line for line in result["stderr"].splitlines() if line.strip()]
    assert result["code"] == 2, (result["code"], result["stderr"][-2000:])
    assert lines and lines[-1].startswith("error: "), result["stderr"][-3000:]
    assert [line for line in lines if line.startswith("error")] == lines[-1:]
    assert len(lines) == 1 or not case.early, result["stderr"][-3000:]
    assert "Traceback" not in result["stderr"] + result["stdout"]
    message = lines[-1].lower()
    assert any(word in message for word in case.expect.lower().split("|")), lines[-1]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_bad_input_gets_one_line_and_leaves_nothing(case: Case, results: dict) -> None:
    _check_one_line(results[case.id], case)
    out = Path(results["__work__"]["path"]) / "out" / case.id
    assert not out.exists(), f"{out} was left behind"
    leftovers = list(out.parent.glob(f".{case.id}*")) if out.parent.exists() else []
    assert not leftovers, leftovers


SAMPLE = ["version-extra-argument", "bench-threads-0", "predict-binary-stdin-text",
          "summary-shape-malformed", "predict-image-bomb", "recipe-not-yaml",
          "finetune-lr-nan", "init-out-unwritable"]


@pytest.mark.parametrize("case_id", SAMPLE)
def test_the_real_script_ends_each_sampled_row_the_same_way(case_id: str, files: dict,
                                                            results: dict, tmp_path: Path,
                                                            run_cli) -> None:
    case = next(c for c in CASES if c.id == case_id)
    argv = _fill(case.line, files, str(tmp_path / "out"))
    proc = subprocess.run([sys.executable, "-m", "tinyai", *argv], input=case.stdin,
                          capture_output=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "TINYAI_CACHE": str(tmp_path / "cache")})
    stderr = proc.stderr.decode("utf-8", "replace")
    _check_one_line({"crash": None, "code": proc.returncode, "stderr": stderr,
                     "stdout": proc.stdout.decode("utf-8", "replace")}, case)
    assert stderr.splitlines()[-1].split(":")[0] == results[case_id]["stderr"].split(":")[0]


def test_debug_shows_the_traceback(files: dict, run_cli) -> None:
    plain = run_cli("bench", "/nonexistent/artifact")
    debug = run_cli("--debug", "bench", "/nonexistent/artifact")
    assert plain.returncode == debug.returncode == 2
    assert "Traceback" not in plain.stderr
    assert "Traceback (most recent call last)" in debug.stderr
    assert "ArtifactError" in debug.stderr
