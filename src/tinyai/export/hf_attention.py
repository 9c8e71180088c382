"""Export Hugging Face encoders with attention that `tinyai.export.attention` fuses best.

While exporting, every HF model inside the exported module runs the attention implementation
registered here: Hugging Face's own SDPA forward, fed by a key-padding mask ``[B, 1, 1, T]``
instead of the ``[B, 1, S, T]`` mask HF builds for SDPA (about 25 nodes of index arithmetic).
The math is unchanged (SDPA broadcasts the mask over the queries), and the fused-attention
translation turns a ``[B, 1, 1, T]`` boolean mask into MultiHeadAttention's
``key_padding_mask`` straight from the ``attention_mask`` input. Models set to "eager" (e.g.
by `tinyai.distill.use_eager_attention`, for attention-map losses) export through SDPA too:
the same function, and the eager form has no single op to fuse.

Masks with anything beyond padding (causal, packed sequences, custom overlays) are built by
HF's own SDPA mask function, and the translation handles them as an attention bias.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

IMPLEMENTATION = "tinyai_sdpa"
# Only these are replaced: others (flash, flex, a user's own) are the user's explicit choice.
_REPLACEABLE = ("sdpa", "eager", None)


@contextlib.contextmanager
def key_padding_attention(model: nn.Module) -> Iterator[None]:
    """Within the block, HF encoders in `model` use `IMPLEMENTATION`; restored afterwards."""
    configs = _attention_configs(model)
    if not configs or not _fusion_enabled() or not _register():
        yield
        return
    saved = [(config, config._attn_implementation) for config in configs]
    try:
        for config in configs:
            config._attn_implementation = IMPLEMENTATION
        yield
    finally:
        for config, implementation in saved:
            config._attn_implementation = implementation


def _fusion_enabled() -> bool:
    from tinyai.export import attention

    return attention.fusion_enabled()


def _attention_configs(model: nn.Module) -> list[Any]:
    """The distinct configs of HF encoders in `model` that support SDPA (whose attention goes
    through transformers' attention registry) and use SDPA or eager attention."""
    configs: dict[int, Any] = {}
    for module in model.modules():
        config = getattr(module, "config", None)
        if (
            getattr(module, "_supports_sdpa", False)
            and not getattr(config, "is_decoder", True)
            and getattr(config, "_attn_implementation", "") in _REPLACEABLE
        ):
            configs[id(config)] = config
    return list(configs.values())


def _register() -> bool:
    """Register the implementation with transformers (idempotent); False if it is too old."""
    try:
        from transformers import AttentionInterface
        from transformers.integrations.sdpa_attention import sdpa_attention_forward
        from transformers.masking_utils import AttentionMaskInterface
    except ImportError:  # transformers < 4.53 has no attention registries: keep HF's masks
        return False
    AttentionInterface.register(IMPLEMENTATION, sdpa_attention_forward)
    AttentionMaskInterface.register(IMPLEMENTATION, _key_padding_mask)
    return True


def _key_padding_mask(
    batch_size: int,
    q_length: int,
    kv_length: int,
    q_offset: int = 0,
    kv_offset: int = 0,
    mask_function: Any = None,
    attention_mask: Any = None,
    **kwargs: Any,
) -> Any:
    """``attention_mask[:, None, None, :]`` for a plain padding mask; HF's SDPA mask otherwise."""
    from transformers.masking_utils import bidirectional_mask_function, sdpa_mask

    plain_padding = (
        mask_function is bidirectional_mask_function
        and attention_mask is not None
        and attention_mask.ndim == 2
        and kv_offset == 0
    )
    if plain_padding:
        return attention_mask[:, None, None, :].bool()
    return sdpa_mask(
        batch_size=batch_size,
        q_length=q_length,
        kv_length=kv_length,
        q_offset=q_offset,
        kv_offset=kv_offset,
        mask_function=mask_function,
        attention_mask=attention_mask,
        **kwargs,
    )
