"""Datasets: the ones under the data root, Fashion-MNIST, and loaders for the user's own data.

Every loader returns an in-memory numpy container (TextDataset, ImageDataset,
AudioDataset) with ``len()`` and ``.subset(indices)``; each module's docstring documents
its splits. Missing or damaged files raise a one-line tinyai.errors.DataError.
"""

from tinyai.data.datasets import AudioDataset, ImageDataset, TextDataset
from tinyai.data.fashion_mnist import load_fashion_mnist
from tinyai.data.glue import GLUE_TASKS, load_glue
from tinyai.data.shakespeare import char_vocab, decode_chars, encode_chars, load_shakespeare
from tinyai.data.speech_commands import CLASSES as SPEECH_COMMANDS_CLASSES
from tinyai.data.speech_commands import load_speech_commands
from tinyai.data.user import load_audio_folder, load_image_folder, load_text_table

__all__ = [
    "GLUE_TASKS",
    "SPEECH_COMMANDS_CLASSES",
    "AudioDataset",
    "ImageDataset",
    "TextDataset",
    "char_vocab",
    "decode_chars",
    "encode_chars",
    "load_audio_folder",
    "load_fashion_mnist",
    "load_glue",
    "load_image_folder",
    "load_shakespeare",
    "load_speech_commands",
    "load_text_table",
]
