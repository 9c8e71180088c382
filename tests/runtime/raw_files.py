"""Write real input files (16-bit PCM wav, PNG) the way a user would hand them to tinyai."""

import wave

import numpy as np


def write_wav(path, waveform):
    samples = np.round(np.asarray(waveform) * 32768.0).clip(-32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(samples.tobytes())
    return path


def write_png(path, image):
    from PIL import Image

    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(path)
    return path
