"""`tinyai inspect ARTIFACT`: what an artifact holds, and whether it is intact.

Task and kind, inputs and outputs, labels, preprocessing, the whole history of what was done
to the model, bytes per file (and in total, through the one byte count), the weights as
stored (by dtype, zero fraction), the metrics recorded at export and after, the parity
check, and the integrity status (every file's sha256 and the sealed manifest). Reads the
artifact with the torch-free runtime only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer


def inspect(
    artifact: Path = typer.Argument(..., help="An artifact directory (tinyai export wrote it)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Show what ARTIFACT holds and check its integrity."""
    from tinyai.runtime import read_manifest, verify_files

    manifest = read_manifest(artifact)
    verify_files(artifact, manifest)  # refuses (exit 2, one line) unless every file matches
    info = describe(artifact, manifest)
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    for line in _lines(info):
        typer.echo(line)


def describe(root: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    from tinyai.runtime.size import artifact_bytes

    files = {name: int(entry["bytes"]) for name, entry in manifest["files"].items()}
    return {
        "artifact": str(root),
        "task": manifest["task"], "kind": manifest["kind"],
        "task_spec": manifest.get("task_spec"),
        "inputs": manifest["inputs"], "outputs": manifest["outputs"],
        "label_names": manifest.get("label_names"),
        "preprocessing": {k: v for k, v in manifest["preprocessing"].items() if k != "vocab"},
        "history": manifest.get("history", []),
        "files": files,
        "bytes": artifact_bytes(root),
        "bytes_without_tokenizer": artifact_bytes(root, tokenizer=False),
        "weights": manifest["model"].get("weights"),
        "exporter": manifest["model"].get("exporter"),
        "opset": manifest["model"].get("opset"),
        "metrics": manifest.get("metrics", {}),
        "evaluation": manifest.get("evaluation"),
        "export_check": manifest.get("export_check"),
        "integrity": f"intact: {len(files)} files match their sha256; the manifest is sealed",
        "tinyai_version": manifest.get("tinyai_version"),
    }


def _lines(info: dict[str, Any]) -> list[str]:
    def io(values: list[dict[str, Any]]) -> str:
        return ", ".join(f"{v['name']} {v['dtype']}[{', '.join(map(str, v['shape']))}]"
                         for v in values)

    out = [f"{info['artifact']}: {info['task']} ({info['kind']}), tinyai "
           f"{info['tinyai_version']}", f"  inputs:  {io(info['inputs'])}",
           f"  outputs: {io(info['outputs'])}"]
    if info["label_names"]:
        out.append(f"  labels:  {', '.join(map(str, info['label_names']))}")
    if info["task_spec"]:
        out.append(f"  data:    {json.dumps(info['task_spec'].get('data') or {})}")
    pre = info["preprocessing"]
    out.append("  preprocessing: " + ", ".join(f"{k}={v}" for k, v in pre.items()
                                               if not isinstance(v, dict | list)))
    out.append(f"  history ({len(info['history'])} steps):")
    for i, step in enumerate(info["history"]):
        metrics = step.get("metrics") or {}
        shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                          for k, v in metrics.items())
        out.append(f"    {i}. {step.get('technique')} ({step.get('kind')})"
                   + (f": {shown}" if shown else ""))
    out.append(f"  bytes: {info['bytes']:,} ({info['bytes_without_tokenizer']:,} without the "
               "tokenizer)")
    for name, size in sorted(info["files"].items()):
        out.append(f"    {name}: {size:,}")
    weights = info["weights"] or {}
    if weights:
        dtypes = ", ".join(f"{k} {v:,} B" for k, v in weights.get("bytes_by_dtype", {}).items())
        out.append(f"  weights: {weights.get('elements', 0):,} elements ({dtypes}); "
                   f"zero fraction of float weights {weights.get('float_zero_fraction', 0):.3f}")
    if info["evaluation"]:
        e = info["evaluation"]
        out.append(f"  evaluation: {e.get('split')} ({e.get('examples')} examples): " +
                   ", ".join(f"{k}={v:.4f}" for k, v in e.get("metrics", {}).items()))
    check = info["export_check"]
    if check:
        out.append(f"  parity with PyTorch at export: max |diff| = {check.get('max_abs_diff')}")
    out.append(f"  {info['integrity']}")
    return out


def register(app: typer.Typer) -> None:
    app.command()(inspect)
