"""The shared training loop: learning, gradient accumulation, exact resume, and torchrun DDP
matching a single process with the same global batch. Real SST-2 text, tiny model."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from tinyai.data import load_glue
from tinyai.distill.text import TokenizedText
from tinyai.models import resolve
from tinyai.train import TrainConfig, checkpoint_step, train

REPO = Path(__file__).resolve().parents[1]


class BagOfWords(nn.Module):
    """Mean of token embeddings -> linear: small enough for many runs per test."""

    def __init__(self, vocab: int = 30522, dim: int = 8, dropout: float = 0.0) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(vocab, dim)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(dim, 2)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.unsqueeze(-1).float()
        pooled = (self.embed(input_ids) * mask).sum(1) / mask.sum(1).clamp_min(1.0)
        return self.out(self.drop(pooled))


def loss_fn(model: nn.Module, batch: dict) -> torch.Tensor:
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    return nn.functional.cross_entropy(logits, batch["labels"])


@pytest.fixture(scope="module")
def tokens() -> TokenizedText:
    data = load_glue("sst2", "train").subset(range(256))
    return TokenizedText.encode(resolve("minilm-l6"), data.texts, None, data.labels, 32)


def test_training_lowers_the_loss(tokens: TokenizedText) -> None:
    model = BagOfWords()
    result = train(model, lambda e: tokens.batches(32, e), TrainConfig(epochs=4, lr=5e-2,
                                                                        log=False), loss_fn)
    assert result.steps == 4 * 8
    assert sum(result.losses[-4:]) / 4 < sum(result.losses[:4]) / 4 - 0.05


def test_grad_accumulation_equals_the_big_batch(tokens: TokenizedText) -> None:
    def halves(epoch: int):
        for batch in tokens.batches(32, epoch, shuffle=True, bucket=False):
            yield {k: v[:16] for k, v in batch.items()}
            yield {k: v[16:] for k, v in batch.items()}

    big, small = BagOfWords(), BagOfWords()
    cfg = {"steps": 6, "lr": 1e-2, "log": False, "max_grad_norm": 0.0}
    train(big, lambda e: tokens.batches(32, e, bucket=False), TrainConfig(**cfg), loss_fn)
    train(small, halves, TrainConfig(**cfg, grad_accum=2), loss_fn)
    for a, b in zip(big.parameters(), small.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


class _Crash(Exception):
    pass


def test_resume_continues_at_the_exact_step(tokens: TokenizedText, tmp_path: Path) -> None:
    cfg = {"steps": 12, "lr": 1e-2, "log": False, "checkpoint_every": 5}
    straight = BagOfWords(dropout=0.3)  # dropout: the RNG state must be restored too
    train(straight, lambda e: tokens.batches(32, e),
          TrainConfig(**cfg, checkpoint_dir=str(tmp_path / "a")), loss_fn)

    calls = {"n": 0}

    def crashing(model: nn.Module, batch: dict) -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] == 8:  # dies during step 8, after the checkpoint at step 5
            raise _Crash
        return loss_fn(model, batch)

    ckpt = str(tmp_path / "b")
    with pytest.raises(_Crash):
        train(BagOfWords(dropout=0.3), lambda e: tokens.batches(32, e),
              TrainConfig(**cfg, checkpoint_dir=ckpt), crashing)
    assert checkpoint_step(ckpt) == 5
    resumed = BagOfWords(dropout=0.3)
    result = train(resumed, lambda e: tokens.batches(32, e),
                   TrainConfig(**cfg, checkpoint_dir=ckpt, resume=True), loss_fn)
    assert len(result.losses) == 12 - 5
    for a, b in zip(straight.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


WORKER = textwrap.dedent("""
    import sys, torch
    sys.path.insert(0, {tests!r})
    from test_train import BagOfWords, loss_fn
    from tinyai.data import load_glue
    from tinyai.distill.text import TokenizedText
    from tinyai.models import resolve
    from tinyai.train import TrainConfig, train
    torch.set_num_threads(1)
    data = load_glue("sst2", "train").subset(range(200))
    tokens = TokenizedText.encode(resolve("minilm-l6"), data.texts, None, data.labels, 32)
    model = BagOfWords()
    train(model, lambda e: tokens.batches(30, e), TrainConfig(steps=8, lr=1e-2, log=False), loss_fn)
    import os, torch.distributed as dist
    if not dist.is_initialized() or dist.get_rank() == 0:
        torch.save(model.state_dict(), sys.argv[1])
    print("worker done", flush=True)
    # Skip interpreter teardown: under torchrun one run in ~25 here aborts there ("terminate
    # called without an active exception", a C++ thread joined at exit), after the work is
    # done. What this test checks is the training result, which is saved above.
    os._exit(0)
""")


def test_torchrun_two_processes_match_one_process(tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(tests=str(REPO / "tests")))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    single = tmp_path / "single.pt"
    subprocess.run([sys.executable, str(script), str(single)], check=True, env=env, timeout=300)
    ddp = tmp_path / "ddp.pt"
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(script), str(ddp)], env=env, timeout=300, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    a = torch.load(single, weights_only=True)
    b = torch.load(ddp, weights_only=True)
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=1e-5, rtol=1e-4)


def test_a_non_finite_loss_stops_at_its_step_and_keeps_the_last_good_checkpoint(
        tokens: TokenizedText, tmp_path: Path) -> None:
    from tinyai.train import TrainingError

    calls = {"n": 0}

    def exploding(model: nn.Module, batch: dict) -> torch.Tensor:
        calls["n"] += 1
        loss = loss_fn(model, batch)
        return loss * float("nan") if calls["n"] == 7 else loss

    ckpt = tmp_path / "ckpt"
    model = BagOfWords()
    config = TrainConfig(steps=10, lr=1e-2, log=False, checkpoint_dir=str(ckpt),
                         checkpoint_every=5)
    with pytest.raises(TrainingError, match=r"loss became nan at step 7.*last good checkpoint"):
        train(model, lambda e: tokens.batches(32, e), config, exploding)
    assert checkpoint_step(ckpt) == 5
    assert all(torch.isfinite(p).all() for p in model.parameters())  # no NaN step was taken


def test_resume_refuses_a_checkpoint_made_with_other_settings(
        tokens: TokenizedText, tmp_path: Path) -> None:
    from tinyai.errors import ConfigError

    ckpt = str(tmp_path / "ckpt")
    base = {"lr": 1e-2, "log": False, "checkpoint_dir": ckpt}
    train(BagOfWords(), lambda e: tokens.batches(32, e), TrainConfig(steps=6, **base), loss_fn)
    for changed, message in (({"steps": 20}, "step budget 6, this run has 20"),
                             ({"steps": 6, "batch_size": 64}, "batch_size 32, this run has 64")):
        config = TrainConfig(**{**base, **changed}, resume=True)
        with pytest.raises(ConfigError, match=message):
            train(BagOfWords(), lambda e: tokens.batches(32, e), config, loss_fn)
    with pytest.raises(ConfigError, match=r"model \(its layers and shapes\)"):
        train(BagOfWords(dim=16), lambda e: tokens.batches(32, e),
              TrainConfig(steps=6, **base, resume=True), loss_fn)


INTERRUPTED = textwrap.dedent("""
    import sys, time, torch
    sys.path.insert(0, {tests!r})
    from test_train import BagOfWords, loss_fn
    from tinyai.data import load_glue
    from tinyai.distill.text import TokenizedText
    from tinyai.models import resolve
    from tinyai.train import Interrupted, TrainConfig, train
    data = load_glue("sst2", "train").subset(range(256))
    tokens = TokenizedText.encode(resolve("minilm-l6"), data.texts, None, data.labels, 32)

    def slow_loss(model, batch):
        time.sleep(0.05)
        return loss_fn(model, batch)

    print("ready", flush=True)
    try:
        train(BagOfWords(), lambda e: tokens.batches(32, e),
              TrainConfig(steps=10000, lr=1e-2, log=False, checkpoint_dir=sys.argv[1]), slow_loss)
    except Interrupted as exc:
        print(exc, flush=True)
        sys.exit(130)
""")


def test_ctrl_c_saves_a_checkpoint_and_says_how_to_resume(tmp_path: Path) -> None:
    import signal
    import time

    script = tmp_path / "interrupted.py"
    script.write_text(INTERRUPTED.format(tests=str(REPO / "tests")))
    ckpt = tmp_path / "ckpt"
    proc = subprocess.Popen([sys.executable, str(script), str(ckpt)], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "a checkpoint is saved" in out and "--resume" in out
    step = checkpoint_step(ckpt)
    assert step is not None and 0 < step < 10000


def test_ema_ends_with_the_moving_average_of_the_steps(tokens: TokenizedText) -> None:
    model = BagOfWords()
    average = [p.detach().clone() for p in model.parameters()]  # starts at the initial weights

    def after_step(step: int, loss: float) -> None:
        for a, p in zip(average, model.parameters(), strict=True):
            a.mul_(0.9).add_(p.detach(), alpha=0.1)

    from tinyai.train import TrainHooks

    last = train(model, lambda e: tokens.batches(32, e),
                 TrainConfig(steps=10, lr=5e-2, ema=0.9, log=False), loss_fn,
                 hooks=TrainHooks(after_step=after_step))
    assert last.steps == 10
    for a, p in zip(average, model.parameters(), strict=True):
        torch.testing.assert_close(p.detach(), a, atol=1e-6, rtol=1e-5)
    plain = BagOfWords()
    train(plain, lambda e: tokens.batches(32, e), TrainConfig(steps=10, lr=5e-2, log=False),
          loss_fn)
    assert not torch.equal(plain.out.weight, model.out.weight)  # the average is not the end


def test_ema_resumes_exactly_and_its_setting_is_part_of_the_checkpoint(
        tokens: TokenizedText, tmp_path: Path) -> None:
    cfg = {"steps": 12, "lr": 1e-2, "log": False, "checkpoint_every": 5, "ema": 0.8}
    straight = BagOfWords()
    train(straight, lambda e: tokens.batches(32, e),
          TrainConfig(**cfg, checkpoint_dir=str(tmp_path / "a")), loss_fn)
    calls = {"n": 0}

    def crashing(model: nn.Module, batch: dict) -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] == 8:
            raise _Crash
        return loss_fn(model, batch)

    ckpt = str(tmp_path / "b")
    with pytest.raises(_Crash):
        train(BagOfWords(), lambda e: tokens.batches(32, e),
              TrainConfig(**cfg, checkpoint_dir=ckpt), crashing)
    from tinyai.errors import ConfigError

    with pytest.raises(ConfigError, match="ema"):
        train(BagOfWords(), lambda e: tokens.batches(32, e),
              TrainConfig(**{**cfg, "ema": 0.0}, checkpoint_dir=ckpt, resume=True), loss_fn)
    resumed = BagOfWords()
    train(resumed, lambda e: tokens.batches(32, e),
          TrainConfig(**cfg, checkpoint_dir=ckpt, resume=True), loss_fn)
    for a, b in zip(straight.parameters(), resumed.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    finished = BagOfWords()  # a resume of a finished run returns the average again
    train(finished, lambda e: tokens.batches(32, e),
          TrainConfig(**cfg, checkpoint_dir=ckpt, resume=True), loss_fn)
    for a, b in zip(straight.parameters(), finished.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


@pytest.mark.parametrize("ema", [-0.1, 1.0, 1.5])
def test_ema_outside_zero_to_one_is_refused(ema: float) -> None:
    with pytest.raises(ValueError, match="ema must be in"):
        TrainConfig(ema=ema)


def test_a_checkpoint_from_before_ema_existed_resumes_as_ema_off(
        tokens: TokenizedText, tmp_path: Path) -> None:
    import json

    from tinyai.errors import ConfigError

    ckpt = tmp_path / "old"
    cfg = {"steps": 4, "lr": 1e-2, "log": False, "checkpoint_dir": str(ckpt)}
    train(BagOfWords(), lambda e: tokens.batches(32, e), TrainConfig(**cfg), loss_fn)
    info = json.loads((ckpt / "checkpoint.json").read_text())
    del info["fingerprint"]["ema"]  # as written before the setting existed
    (ckpt / "checkpoint.json").write_text(json.dumps(info))
    train(BagOfWords(), lambda e: tokens.batches(32, e), TrainConfig(**cfg, resume=True), loss_fn)
    with pytest.raises(ConfigError, match=r"ema 0\.0, this run has 0\.5"):
        train(BagOfWords(), lambda e: tokens.batches(32, e),
              TrainConfig(**cfg, resume=True, ema=0.5), loss_fn)
