"""The one training loop that fine-tuning and distillation share.

The caller keeps its data: `train(model, batches_fn, TrainConfig(...), loss_fn)` where
``batches_fn(epoch)`` returns that epoch's batches (dicts of tensors) deterministically, and
``loss_fn(model, batch)`` returns a scalar. The loop adds AdamW, warm-up + decay, gradient
accumulation, bf16 autocast, seeds, a progress line, checkpoints and exact resume, and
data parallelism under ``torchrun`` (WORLD_SIZE > 1).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tinyai import atomic
from tinyai.config import Config
from tinyai.errors import ConfigError, Interrupted, TinyAIError
from tinyai.hardware import bf16_native
from tinyai.progress import Progress

Batch = dict[str, Any]
BatchesFn = Callable[[int], Iterable[Batch]]
LossFn = Callable[[nn.Module, Batch], torch.Tensor]

MAX_SEED = 2**32 - 1  # numpy's global seed is 32-bit; torch's and random's take these too
_CHECKPOINT = "checkpoint.pt"
_CHECKPOINT_INFO = "checkpoint.json"  # what the checkpoint was made with, readable without torch


@dataclasses.dataclass
class TrainConfig(Config):
    """How to train; `steps` (optimizer steps) wins over `epochs` when set.

    checkpoint_dir / checkpoint_every / resume are set by the recipe runner for every
    training stage (a recipe may not set them: the run directory owns its checkpoints).
    """

    steps: int = 0
    epochs: float = 1.0
    batch_size: int = 32
    lr: float = 5e-5
    warmup: float = 0.1  # fraction of the steps (< 1) or a number of steps (>= 1)
    decay: str = "linear"  # linear | cosine | constant
    weight_decay: float = 0.01
    grad_accum: int = 1
    max_grad_norm: float = 1.0
    ema: float = 0.0  # > 0: end with a moving average of the weights (decay per step, 0.99)
    bf16: bool = False  # autocast; float32 where the hardware only emulates bf16
    seed: int = 0
    checkpoint_dir: str | None = None
    checkpoint_every: int = 0  # steps between checkpoints (0: only at the end, or see seconds)
    checkpoint_seconds: float = 0.0  # or: the first step boundary this long after the last
    resume: bool = False
    log: bool = True
    log_every: int = 10

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0 (0: use epochs), got {self.steps}")
        if not self.epochs > 0 or not math.isfinite(self.epochs):
            raise ValueError(f"epochs must be a number > 0, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if not self.lr > 0 or not math.isfinite(self.lr):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr}")
        if self.weight_decay < 0 or self.warmup < 0:
            raise ValueError("weight_decay and warmup must be >= 0")
        if self.decay not in ("linear", "cosine", "constant"):
            raise ValueError(f"decay must be linear, cosine or constant, not {self.decay!r}")
        if self.grad_accum < 1 or self.log_every < 1 or self.checkpoint_every < 0:
            raise ValueError("grad_accum and log_every must be >= 1, checkpoint_every >= 0")
        if (self.resume or self.checkpoint_every or self.checkpoint_seconds) and not \
                self.checkpoint_dir:
            raise ValueError("resume and checkpoint_every need checkpoint_dir")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema must be in [0, 1) (0: off; e.g. 0.99), got {self.ema}")
        if self.checkpoint_seconds < 0:
            raise ValueError(f"checkpoint_seconds must be >= 0, got {self.checkpoint_seconds}")
        if not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be in [0, {MAX_SEED}], got {self.seed}")


@dataclasses.dataclass
class TrainResult:
    steps: int
    losses: list[float]  # one mean loss per optimizer step (this process's shard)
    seconds: float


@dataclasses.dataclass
class TrainHooks:
    """Callbacks into the loop. before_micro_batch(): before every forward pass (a pruning
    schedule updating its masks); after_step(step, loss): after every optimizer step."""

    before_micro_batch: Callable[[], None] | None = None
    after_step: Callable[[int, float], None] | None = None


class TrainingError(TinyAIError):
    """Training cannot go on (a non-finite loss); the last good checkpoint is kept."""


def train(
    model: nn.Module, batches_fn: BatchesFn, config: TrainConfig, loss_fn: LossFn,
    params: Iterable[nn.Parameter] | None = None,
    hooks: TrainHooks | None = None,
    label: str = "train",
) -> TrainResult:
    """Train `model` in place; `params` (default: all trainable) are the ones optimized.

    `hooks` are called before every forward pass and after every step. A non-finite loss
    stops the run (`TrainingError`, naming the step);
    Ctrl-C stops it at the next step boundary, saves a checkpoint when `checkpoint_dir` is
    set and raises `Interrupted` saying how to resume.
    """
    with _DeferredInterrupt() as interrupt:  # from the start: setup can take a while too
        return _train(model, batches_fn, config, loss_fn, params, hooks or TrainHooks(), label,
                      interrupt)


def _train(model: nn.Module, batches_fn: BatchesFn, config: TrainConfig, loss_fn: LossFn,
           params: Iterable[nn.Parameter] | None, hooks: TrainHooks, label: str,
           interrupt: _DeferredInterrupt) -> TrainResult:
    dist = _Distributed.from_env()
    config = _effective_precision(config, model, label, dist.rank == 0)
    _seed_everything(config.seed)
    candidates = params if params is not None else model.parameters()
    trainable = [p for p in candidates if p.requires_grad]
    if not trainable:
        raise ConfigError("nothing to train: every parameter has requires_grad=False")
    dist.broadcast_params(model)
    total = _total_steps(batches_fn, config)
    optimizer = _adamw(trainable, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(config, total))
    average = WeightAverage(trainable, config.ema) if config.ema else None
    step, epoch, position = 0, 0, 0
    if config.resume:
        check_resumable(config, model, total)
        step, epoch, position = _load_checkpoint(config, model, optimizer, scheduler, average)
    progress = Progress(total, label, enabled=config.log and dist.rank == 0,
                        every=config.log_every, start=step)
    losses: list[float] = []
    model.train()
    start = last_save = time.perf_counter()
    save = lambda: _save_checkpoint(  # noqa: E731
        config, model, optimizer, scheduler, step, epoch, position, dist, total, average)
    while step < total:
        pending: list[float] = []
        micro = 0
        for index, batch in enumerate(batches_fn(epoch)):
            if index < position:  # resuming mid-epoch: skip batches already trained on
                continue
            if hooks.before_micro_batch is not None:
                hooks.before_micro_batch()
            pending.append(_micro_step(model, batch, loss_fn, config, dist))
            micro += 1
            if micro % config.grad_accum:
                continue
            loss = sum(pending)
            if not math.isfinite(loss):
                progress.close()
                raise TrainingError(_non_finite_message(loss, step + 1, config))
            position = index + 1
            dist.average_grads(trainable)
            if config.max_grad_norm > 0:
                nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            if average is not None:
                average.update()
            step += 1
            losses.append(loss)
            pending = []
            progress.update(step, loss=losses[-1], lr=scheduler.get_last_lr()[0])
            if hooks.after_step is not None:
                hooks.after_step(step, loss)
            if _checkpoint_due(config, step, last_save):
                save()
                last_save = time.perf_counter()
            if interrupt.requested:
                progress.close()
                if config.checkpoint_dir:
                    save()
                raise Interrupted(_interrupt_message(step, total, config))
            if step >= total:
                break
        else:  # epoch exhausted; leftover micro-batches of an incomplete accumulation
            optimizer.zero_grad(set_to_none=True)  # are dropped
            epoch, position = epoch + 1, 0
    progress.close()
    if config.checkpoint_dir:
        save()  # the finished state: a resume after this returns at once
    if average is not None:
        average.copy_to_params()
    model.eval()
    return TrainResult(step, losses, time.perf_counter() - start)


def _effective_precision(config: TrainConfig, model: nn.Module, label: str,
                         say: bool) -> TrainConfig:
    """`config` with bf16 off where the hardware would only emulate it (tinyai.hardware)."""
    device = next(model.parameters()).device.type
    if not config.bf16 or bf16_native(device):
        return config
    if config.log and say:
        print(f"{label}: bf16 asked for, but this CPU has no bf16 instructions "
              "(avx512_bf16/AMX) and would emulate it slower: training in float32",
              file=sys.stderr)
    return dataclasses.replace(config, bf16=False)


class WeightAverage:
    """An exponential moving average of the trained weights (Polyak averaging), which the
    run ends with: the last step's weights carry the noise of the last batches, the average
    less so. On the SST-2 teacher it was worth +0.1 to +0.2 points of dev accuracy on the
    mean of three paired runs (BENCHMARKS.md, #15 item 1): small, so it is off by default.

    Only the trained tensors are averaged (torch's AveragedModel copies the whole module,
    a frozen embedding table too); buffers such as BatchNorm statistics stay the last
    step's, as AveragedModel's default. A masked weight (pruning) averages its
    ``weight_orig``; the mask still zeroes what it prunes. No bias correction: the average
    starts at the initial weights, which keep decay**steps of it (0.99 over 1,000 steps:
    4e-5; 0.998: 13%): choose a decay whose window, 1 / (1 - decay) steps, is a small part
    of the run.
    """

    def __init__(self, params: list[nn.Parameter], decay: float) -> None:
        self.params, self.decay = params, decay
        self.average = [p.detach().clone() for p in params]

    @torch.no_grad()
    def update(self) -> None:
        # one fused pass over all tensors, as timm's EMA does, not a Python loop per tensor
        torch._foreach_lerp_(self.average, [p.detach() for p in self.params], 1.0 - self.decay)

    @torch.no_grad()
    def copy_to_params(self) -> None:
        for param, average in zip(self.params, self.average, strict=True):
            param.copy_(average)

    def state_dict(self) -> list[torch.Tensor]:
        return self.average

    def load_state_dict(self, state: list[torch.Tensor]) -> None:
        if len(state) != len(self.average) or any(
                a.shape != b.shape for a, b in zip(state, self.average, strict=True)):
            raise ValueError("the saved weight average holds other tensors than this model's")
        # in place: the checkpoint is read onto the CPU, the training may run elsewhere
        with torch.no_grad():
            for average, saved in zip(self.average, state, strict=True):
                average.copy_(saved)


def _checkpoint_due(config: TrainConfig, step: int, last_save: float) -> bool:
    if config.checkpoint_every and step % config.checkpoint_every == 0:
        return True
    return bool(config.checkpoint_seconds) and (
        time.perf_counter() - last_save >= config.checkpoint_seconds)


def _non_finite_message(loss: float, step: int, config: TrainConfig) -> str:
    kept = (f"; the last good checkpoint in {config.checkpoint_dir} is kept"
            if config.checkpoint_dir else "")
    return (f"the training loss became {loss} at step {step}{kept}; lower the learning rate "
            f"(lr, now {config.lr:g}) or turn bf16 off, then run again")


def _interrupt_message(step: int, total: int, config: TrainConfig) -> str:
    if config.checkpoint_dir:
        return (f"interrupted at step {step}/{total}; a checkpoint is saved in "
                f"{config.checkpoint_dir}: run the same command with --resume to continue")
    return (f"interrupted at step {step}/{total}; nothing was saved (no checkpoint directory): "
            "set checkpoint_dir to be able to resume")


class _DeferredInterrupt:
    """Turn Ctrl-C into a flag the loop reads at step boundaries, so a checkpoint is never
    taken in the middle of an optimizer update (only in the main thread; elsewhere Python
    does not deliver signals and nothing changes)."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> _DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._request)
        return self

    def _request(self, signum: int, frame: Any) -> None:
        if self.requested:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _micro_step(model: nn.Module, batch: Batch, loss_fn: LossFn, config: TrainConfig,
                dist: _Distributed) -> float:
    shard, weight = dist.shard(batch)
    device = next(model.parameters()).device
    shard = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in shard.items()}
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.bf16):
        loss = loss_fn(model, shard)
    # weight makes the mean over ranks equal the mean over the whole (global) batch
    (loss.float() * weight / config.grad_accum).backward()
    return float(loss.detach()) / config.grad_accum


def _total_steps(batches_fn: BatchesFn, config: TrainConfig) -> int:
    if config.steps:
        return config.steps
    per_epoch = sum(1 for _ in batches_fn(0)) // config.grad_accum
    return max(1, math.ceil(per_epoch * config.epochs))


def _adamw(params: list[nn.Parameter], config: TrainConfig) -> torch.optim.AdamW:
    # biases and norm weights (1-d) are not decayed, as in BERT's recipe
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    # The fused kernel updates every tensor in one pass: on CPU the default per-tensor loop
    # took ~40 ms a step for a 2M-parameter student (fused: ~7), a fifth of its step time.
    fused = all(p.is_floating_point() for p in params) and \
        {p.device.type for p in params} <= {"cpu", "cuda"}
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=config.lr,
                             fused=fused or None)


def _schedule(config: TrainConfig, total: int) -> Callable[[int], float]:
    warmup = int(config.warmup if config.warmup >= 1 else config.warmup * total)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if config.decay == "constant":
            return 1.0
        done = (step - warmup) / max(1, total - warmup)
        if config.decay == "linear":
            return max(0.0, 1.0 - done)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, done)))

    return factor


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass


# ---------------------------------------------------------------- checkpoints
def _save_checkpoint(config: TrainConfig, model: nn.Module, optimizer: torch.optim.Optimizer,
                     scheduler: Any, step: int, epoch: int, position: int,
                     dist: _Distributed, total: int,
                     average: WeightAverage | None = None) -> None:
    if dist.rank == 0:
        folder = Path(str(config.checkpoint_dir))
        folder.mkdir(parents=True, exist_ok=True)
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "python_rng": list(random.getstate()[1]),
            "step": step, "epoch": epoch, "position": position,
        }
        if average is not None:
            state["weight_average"] = average.state_dict()
        tmp = folder / (_CHECKPOINT + ".tmp")
        torch.save(state, tmp)
        tmp.replace(folder / _CHECKPOINT)  # atomic: a crash never leaves half a checkpoint
        info = {"step": step, "total": total, "fingerprint": _fingerprint(config, model, total)}
        atomic.write_text(folder / _CHECKPOINT_INFO, json.dumps(info, indent=1) + "\n")
    dist.barrier()


def _fingerprint(config: TrainConfig, model: nn.Module, total: int) -> dict[str, Any]:
    """What must not change between a run and its resume: the model's parameter shapes and
    the settings that decide which batch comes at which step and how it is weighted."""
    shapes = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        shapes.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype};".encode())
    return {
        "model": shapes.hexdigest()[:16], "total_steps": total, "batch_size": config.batch_size,
        "grad_accum": config.grad_accum, "lr": config.lr, "seed": config.seed,
        "warmup": config.warmup, "decay": config.decay, "bf16": config.bf16,
        "ema": config.ema,
    }


_FINGERPRINT_NAMES = {"model": "model (its layers and shapes)", "total_steps": "step budget"}
# settings that checkpoints from before them were made without: their value then
_ADDED_LATER = {"ema": 0.0}


def check_resumable(config: TrainConfig, model: nn.Module, total: int) -> None:
    """Refuse, in one line, a checkpoint made by another model or other settings."""
    path = Path(str(config.checkpoint_dir)) / _CHECKPOINT_INFO
    if not path.is_file():
        return  # no checkpoint yet (or one from before this file existed): start / load
    try:
        saved = json.loads(path.read_text())["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"{path} is damaged; delete {config.checkpoint_dir} to start over, "
                          "or restore it") from None
    now = _fingerprint(config, model, total)
    for key, value in now.items():
        was = saved.get(key, _ADDED_LATER.get(key))
        if was != value:
            what = _FINGERPRINT_NAMES.get(key, key)
            raise ConfigError(
                f"the checkpoint in {config.checkpoint_dir} was made with {what} "
                f"{was}, this run has {value}; resume with the same settings, "
                "or delete the checkpoint directory to start over"
            )


def _load_checkpoint(config: TrainConfig, model: nn.Module, optimizer: torch.optim.Optimizer,
                     scheduler: Any,
                     average: WeightAverage | None = None) -> tuple[int, int, int]:
    path = Path(str(config.checkpoint_dir)) / _CHECKPOINT
    if not path.is_file():
        return 0, 0, 0  # nothing to resume yet: start from the beginning
    from tinyai.errors import ModelError

    state = _read_checkpoint(path)
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        random.setstate((3, tuple(state["python_rng"]), None))
        if average is not None:
            average.load_state_dict(state["weight_average"])
    except (RuntimeError, ValueError, KeyError, TypeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(
            f"{path} was saved by a different run ({first[:160]}); resume with the same model "
            "and options, or delete the checkpoint to start this training over"
        ) from None
    return int(state["step"]), int(state["epoch"]), int(state["position"])


def checkpoint_step(checkpoint_dir: str | Path) -> int | None:
    """The step saved in `checkpoint_dir`, or None when there is no checkpoint."""
    path = Path(checkpoint_dir) / _CHECKPOINT
    if not path.is_file():
        return None
    return int(_read_checkpoint(path)["step"])


_CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "torch_rng", "python_rng",
                    "step", "epoch", "position")


def _read_checkpoint(path: Path) -> dict[str, Any]:
    """The state `_save_checkpoint` wrote; anything else is a one-line ModelError.

    Nothing in it is unpickled as code: torch.save writes a zip archive, so any other file
    (a bare pickle, say) is refused before torch sees it, and the archive is read with
    ``weights_only=True``, which admits tensors and plain containers only.
    """
    import pickle
    import warnings
    import zipfile

    from tinyai.errors import ModelError

    fix = "delete it to start this training over"
    if not zipfile.is_zipfile(path):
        raise ModelError(f"{path} is damaged or not a tinyai checkpoint (not a torch.save "
                         f"archive); {fix}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about a pickle's protocol first
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a damaged archive raises anything from EOFError to KeyError
        reason = ("it holds objects other than tensors and numbers"
                  if isinstance(exc, pickle.UnpicklingError) else
                  (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160])
        raise ModelError(f"{path} is damaged or not a tinyai checkpoint ({reason}); {fix}") \
            from None
    missing = [k for k in _CHECKPOINT_KEYS if not isinstance(state, dict) or k not in state]
    if missing or not all(isinstance(state[k], int) for k in ("step", "epoch", "position")):
        raise ModelError(f"{path} is not a tinyai checkpoint (missing or bad "
                         f"{', '.join(missing) or 'step counters'}); {fix}")
    return state


# ---------------------------------------------------------------- data parallel
class _Distributed:
    """Data parallelism across torchrun processes.

    Each global batch is split by rows across ranks and gradients are averaged with one
    all-reduce per optimizer step. We do this by hand rather than wrapping in
    DistributedDataParallel because loss functions here read intermediate activations
    through hooks and may leave parameters unused (pooler, projections), which DDP's
    reducer rejects unless find_unused_parameters adds a graph walk every step.
    """

    def __init__(self, rank: int = 0, world: int = 1) -> None:
        self.rank, self.world = rank, world

    @classmethod
    def from_env(cls) -> _Distributed:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        import torch.distributed as tdist

        if not tdist.is_initialized():
            gpu = torch.cuda.is_available()
            if gpu:  # one GPU per process; the caller puts the model on cuda (this device)
                torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            tdist.init_process_group(backend="nccl" if gpu else "gloo")
        return cls(tdist.get_rank(), tdist.get_world_size())

    def shard(self, batch: Batch) -> tuple[Batch, float]:
        if self.world == 1:
            return batch, 1.0
        rows = _batch_rows(batch)
        index = torch.arange(self.rank, rows, self.world)
        shard = {k: _take(v, index, rows) for k, v in batch.items()}
        # mean over ranks of (local mean * local_n * world / rows) == mean over all rows
        return shard, len(index) * self.world / rows

    def broadcast_params(self, model: nn.Module) -> None:
        if self.world == 1:
            return
        import torch.distributed as tdist

        with torch.no_grad():
            for tensor in model.state_dict().values():
                tdist.broadcast(tensor, src=0)

    def average_grads(self, params: list[nn.Parameter]) -> None:
        if self.world == 1:
            return
        import torch.distributed as tdist

        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        tdist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = flat[offset: offset + n].view_as(p).clone()
            offset += n

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as tdist

            tdist.barrier()


def _batch_rows(batch: Batch) -> int:
    for value in batch.values():
        if isinstance(value, torch.Tensor) and value.ndim > 0:
            return int(value.shape[0])
    raise ConfigError("a batch needs at least one tensor with a batch dimension")


def _take(value: Any, index: torch.Tensor, rows: int) -> Any:
    if isinstance(value, torch.Tensor) and value.ndim > 0 and value.shape[0] == rows:
        return value[index]
    if isinstance(value, list) and len(value) == rows:
        return [value[i] for i in index.tolist()]
    return value
