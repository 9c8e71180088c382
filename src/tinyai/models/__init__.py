"""Models: load local Hugging Face dirs offline, save/load tinyai models, reference models.

Public API::

    load_model(name_or_dir) -> nn.Module          # "minilm-l6", a HF dir, or a tinyai model dir
    save_model(model, dir, tokenizer=None, history=None) -> Path  # never pickle; see models.dir
    is_model_dir(path) -> bool                     # holds exactly what save_model writes
    load_tokenizer(name_or_dir)                    # HF fast tokenizer, local files only
    load_encoder(name_or_dir, auto_class="AutoModel")  # the raw HF model, for building heads
    TextClassifier(encoder, num_labels, pooling="cls", dropout=0.1)   # logits [B,C] / score [B]
    SentenceEncoder(encoder, pooling="mean", normalize=True)          # embedding [B,D]
    FashionCNN(FashionCNNConfig), LeNet5(LeNet5Config), LeNet300100(LeNet300100Config),
    KwsDSCNN(KwsDSCNNConfig), KwsResNet(KwsResNetConfig), CharLM(CharLMConfig),
    CharTransformer(CharTransformerConfig)

Every model maps named tensor inputs to ONE tensor and has ``example_inputs(batch_size=1)``
(a dict for ``model(**inputs)``), ``kind`` (the task kind) and ``input_names``.

Structured pruning and round trips: reference models keep their widths in the config
(``FashionCNNConfig.channels``, ``LeNet5Config.channels/hidden``, ``LeNet300100Config.hidden``,
``KwsDSCNNConfig.channels``, ``CharLMConfig.embed_dim/hidden_size``) and
``model.sync_config()`` rewrites them from the current layers (`save_model` calls it).
Widths no config field names (a residual block's inner conv, a transformer's FFN size) need
nothing: `load_model` rebuilds from the config,
then resizes every Linear / Conv / BatchNorm / LayerNorm / Embedding whose stored weight
shape differs (`tinyai.models.fit`), so a pruner only has to shrink the modules in place.
Recurrent layers are the exception: resize them through the config.
"""

from tinyai.models.audio import KwsDSCNN, KwsDSCNNConfig, KwsResNet, KwsResNetConfig
from tinyai.models.base import build_model, register_model
from tinyai.models.charlm import CharLM, CharLMConfig, CharTransformer, CharTransformerConfig
from tinyai.models.heads import (
    HFSequenceClassifier,
    SentenceEncoder,
    SentenceEncoderConfig,
    TextClassifier,
    TextClassifierConfig,
    pool,
)
from tinyai.models.hf import SHORT_NAMES, load_encoder, load_tokenizer, resolve
from tinyai.models.io import is_model_dir, load_model, save_model
from tinyai.models.vision import (
    FashionCNN,
    FashionCNNConfig,
    LeNet5,
    LeNet5Config,
    LeNet300100,
    LeNet300100Config,
)

__all__ = [
    "SHORT_NAMES",
    "CharLM",
    "CharLMConfig",
    "CharTransformer",
    "CharTransformerConfig",
    "FashionCNN",
    "FashionCNNConfig",
    "HFSequenceClassifier",
    "KwsDSCNN",
    "KwsDSCNNConfig",
    "KwsResNet",
    "KwsResNetConfig",
    "LeNet5",
    "LeNet5Config",
    "LeNet300100",
    "LeNet300100Config",
    "SentenceEncoder",
    "SentenceEncoderConfig",
    "TextClassifier",
    "TextClassifierConfig",
    "build_model",
    "is_model_dir",
    "load_encoder",
    "load_model",
    "load_tokenizer",
    "pool",
    "register_model",
    "resolve",
    "save_model",
]
