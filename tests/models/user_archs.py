"""Architectures written the way a user writes them, outside tinyai (issue #14).

None of them follows tinyai's input contract: they take positional tensors under their own
names, ignore inputs the task offers, share weights, and use torch's own transformer layers.
Widths are tiny so that every verb runs on each in well under a second.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:  # a projection shortcut
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                          nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet8(nn.Module):
    """Three residual stages with projection shortcuts; forward(x), positional."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 8) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        self.layer1 = _Block(width, width, 1)
        self.layer2 = _Block(width, 2 * width, 2)
        self.layer3 = _Block(2 * width, 4 * width, 2)
        self.fc = nn.Linear(4 * width, num_classes)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def _separable(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=False), nn.BatchNorm2d(c_in),
        nn.ReLU(), nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class SeparableConcatNet(nn.Module):
    """Depthwise-separable branches joined by a channel concat; forward(images)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 8) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 2, 1), nn.ReLU())
        self.branch_a = _separable(width, width)
        self.branch_b = nn.Sequential(nn.Conv2d(width, width, 1), nn.ReLU())
        self.mix = _separable(2 * width, 2 * width, stride=2)
        self.classifier = nn.Linear(2 * width, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.stem(images)
        x = torch.cat([self.branch_a(x), self.branch_b(x)], dim=1)
        x = self.mix(x).mean(dim=(2, 3))
        return self.classifier(x)


class GRUClassifier(nn.Module):
    """A 2-layer GRU over token ids; it never looks at an attention mask: forward(ids)."""

    def __init__(self, vocab_size: int = 100, num_classes: int = 2, dim: int = 16,
                 hidden: int = 32) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim)
        self.gru = nn.GRU(dim, hidden, num_layers=2, batch_first=True)
        self.out = nn.Linear(hidden, num_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        states, _ = self.gru(self.embedding(ids))
        return self.out(states[:, -1])


class TinyViT(nn.Module):
    """Patches -> nn.TransformerEncoder (torch's fast path in eval) -> class token head."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
                 patch: int = 7, dim: int = 32, heads: int = 4, layers: int = 2) -> None:
        super().__init__()
        self.patchify = nn.Conv2d(in_channels, dim, patch, patch)
        tokens = (image_size // patch) ** 2
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, tokens + 1, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        x = self.patchify(pixel_values).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        return self.head(self.norm(self.encoder(x))[:, 0])


class TiedCharLM(nn.Module):
    """Embedding and output projection share one matrix (weight tying); forward(tokens)."""

    def __init__(self, vocab_size: int = 65, dim: int = 32) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)
        self.lstm = nn.LSTM(dim, dim, batch_first=True)
        self.proj = nn.Linear(dim, vocab_size, bias=False)
        self.proj.weight = self.embed.weight

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.lstm(self.embed(tokens))
        return self.proj(hidden)


class SmallCNN(nn.Module):
    """A CNN as a user writes it: positional forward(x), no config, no tinyai contract."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.fc = nn.Linear(16, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.conv2(x))
        return self.fc(x.mean(dim=(2, 3)))


def save_neg_pos_text_model(folder: Path) -> tuple[Path, Path]:
    """A tiny BERT classifier fitted to the user's own 8-row TSV with labels neg/pos (not
    sst2's negative/positive), saved to folder/model; returns (model dir, the TSV)."""
    from transformers import BertConfig, BertModel

    from tinyai.models import TextClassifier, resolve, save_model
    from tinyai.tasks.spec import TaskSpec, build_task

    table = folder / "reviews.tsv"
    rows = [f"a {'fine' if i % 2 else 'dull'} film number {i}\t{'pos' if i % 2 else 'neg'}"
            for i in range(8)]
    table.write_text("text\tlabel\n" + "\n".join(rows) + "\n")
    torch.manual_seed(0)
    encoder = BertModel(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                   intermediate_size=64, max_position_embeddings=64))
    model = folder / "model"
    save_model(TextClassifier(encoder, num_labels=2), model, tokenizer=resolve("minilm-l6"),
               task=build_task(TaskSpec(data={"train": str(table)})))
    return model, table
