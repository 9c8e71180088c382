"""Score a model on a task's held-out split: the deployed artifact, or a PyTorch module.

``evaluate("out/sst2-int8", "sst2")`` runs the artifact through tinyai.runtime, with the
artifact's own preprocessing (its tokenizer.json, its feature settings), on raw examples;
that path never imports torch, so the accuracy reported next to an artifact's latency is the
accuracy of that very file. ``evaluate(model, task)`` runs PyTorch on the task's batches, for
side-by-side parity.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tinyai.errors import ArtifactError


def evaluate(
    model_or_artifact: Any,
    task: Any = None,
    split: str | None = None,
    limit: int | None = None,
    batch_size: int = 32,
    threads: int = 1,
    indices: Sequence[int] | np.ndarray | None = None,
) -> dict[str, Any]:
    """Metrics of `model_or_artifact` on `task` (Task or name; for an artifact, default: its
    own task) over `split` (default: the task's evaluation split), first `limit` examples,
    or the examples at `indices` of that split (a sample)."""
    start = time.perf_counter()
    is_artifact = isinstance(model_or_artifact, str | Path)
    task = _resolve_task(task, model_or_artifact if is_artifact else None)
    split = split or task.eval_split
    dataset = task.dataset(split)
    if indices is not None:
        dataset = dataset.subset(np.asarray(indices))
    if limit is not None and limit < len(dataset):
        dataset = dataset.subset(np.arange(limit))
    if is_artifact:
        predictions, labels = _run_artifact(
            Path(model_or_artifact), task, dataset, batch_size, threads
        )
    else:
        predictions, labels = _run_torch(model_or_artifact, task, dataset, batch_size)
    metrics = task.metrics(predictions, labels)
    return {
        "task": task.name,
        "split": split,
        "examples": len(dataset),
        "source": "artifact" if is_artifact else "pytorch",
        **({"artifact": str(model_or_artifact)} if is_artifact else {}),
        "primary_metric": task.primary_metric,
        "metrics": {k: float(v) for k, v in metrics.items()},
        "seconds": round(time.perf_counter() - start, 3),
    }


def _resolve_task(task: Any, artifact: Any) -> Any:
    if task is None:
        if artifact is None:
            raise ValueError("evaluate(model, task) needs a task for a PyTorch model")
        from tinyai.runtime import read_manifest

        manifest = read_manifest(artifact)
        if isinstance(manifest.get("task_spec"), dict):  # the data it was made from
            from tinyai.tasks.spec import TaskSpec, build_task

            return build_task(TaskSpec.from_dict(manifest["task_spec"], "manifest.task_spec"))
        task = manifest["task"]
        refuse_data_given_in_memory(artifact, str(task))
    if isinstance(task, str):
        from tinyai.tasks import get_task

        return get_task(task)
    return task


def refuse_data_given_in_memory(artifact: Any, task: str) -> None:
    """A task on the user's files records them in the manifest (task_spec); one given as
    arrays or datasets in memory records only its kind, which names no data to score on."""
    from tinyai.errors import ConfigError
    from tinyai.tasks import TASK_NAMES
    from tinyai.tasks.custom import CUSTOM_KINDS

    if task in TASK_NAMES or task not in CUSTOM_KINDS:
        return
    files = "FILE.npz" if task.startswith("array-") else "PATH"
    raise ConfigError(
        f"artifact {artifact} was made from {task} data given in memory, which its manifest "
        f"cannot re-create; pass the task: evaluate(artifact, task=get_task({task!r}, "
        f"data={{'test': ...}})), or run tinyai evaluate {artifact} --data test={files}"
    )


def _run_artifact(
    root: Path, task: Any, dataset: Any, batch_size: int, threads: int
) -> tuple[np.ndarray, np.ndarray]:
    from tinyai.runtime import load_artifact

    predictor = load_artifact(root, threads=threads)
    if predictor.kind != task.kind:
        raise ArtifactError(
            f"artifact {root} is a {predictor.kind} model ({predictor.task}), task {task.name} "
            f"is {task.kind}; evaluate it on a {predictor.kind} task"
        )
    if task.kind == "char-lm":  # windows of ids: the task's batching is the preprocessing
        outputs, labels = [], []
        for batch in task.numpy_batches(dataset, batch_size):
            outputs.append(task.predictions(predictor.run(batch)))
            labels.append(batch["labels"])
        return np.concatenate(outputs), np.concatenate(labels)
    outputs = []
    for raw in _raw_batches(task, dataset, batch_size):
        if task.kind == "sentence-embedding":  # rows [a; b], the layout task.predictions reads
            first, second = raw
            out = np.concatenate([predictor.outputs(first), predictor.outputs(second)])
        else:
            out = predictor.outputs(raw)
        outputs.append(task.predictions(out))
    return np.concatenate(outputs), np.asarray(dataset.labels)


def _raw_batches(task: Any, data: Any, batch_size: int) -> Iterator[Any]:
    """The dataset's raw examples (sentences, images, waveforms), `batch_size` at a time."""
    for start in range(0, len(data), batch_size):
        window = slice(start, start + batch_size)
        if task.kind.startswith("array-"):  # the raw arrays, checked by the runtime
            yield {name: array[window] for name, array in data.inputs.items()}
        elif task.kind == "image-classification":
            yield data.images[window]
        elif task.kind == "audio-classification":
            yield data.waveforms[window]
        elif task.kind == "sentence-embedding":
            yield list(data.texts[window]), list(data.texts_b[window])
        elif data.texts_b is not None:
            yield list(zip(data.texts[window], data.texts_b[window], strict=True))
        else:
            yield list(data.texts[window])


def _run_torch(
    model: Any, task: Any, dataset: Any, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    import torch

    from tinyai.models.calling import call_model, check_vocabulary

    check_vocabulary(model, task)
    was_training = model.training
    model.eval()
    predictions, labels = [], []
    try:
        with torch.no_grad():
            for batch in task.batches(dataset, batch_size):
                outputs = call_model(model, task.model_inputs(batch))
                predictions.append(task.predictions(outputs, batch))
                labels.append(batch["labels"].numpy())
    finally:
        model.train(was_training)
    return np.concatenate(predictions), np.concatenate(labels)
