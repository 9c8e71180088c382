"""`tinyai.models.load_model` opens a pruned model `tinyai.models.save_model` wrote."""

import torch

from tinyai.models import FashionCNN, FashionCNNConfig, load_model, save_model
from tinyai.prune import MagnitudePruning, StructuredPruning, prune_


def test_load_model_reads_a_pruned_directory(tmp_path) -> None:
    torch.manual_seed(0)
    model = FashionCNN(FashionCNNConfig(channels=(8, 16, 16))).eval()
    inputs = model.example_inputs(batch_size=2)
    prune_(model, StructuredPruning(ratio=0.5, targets=("channels",)), example_inputs=inputs)
    prune_(model, MagnitudePruning(sparsity=0.5))
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    torch.testing.assert_close(loaded(**inputs), model(**inputs))
    assert sum(p.numel() for p in loaded.parameters()) == sum(
        p.numel() for n, p in model.named_parameters() if not n.endswith("_mask")
    )
