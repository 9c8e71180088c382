"""Loaders for the user's own data, on small files written here."""

import io
import wave

import numpy as np
import pytest
from PIL import Image

from tinyai.data import TextDataset, load_audio_folder, load_image_folder, load_text_table
from tinyai.errors import DataError


def test_tsv_with_string_labels_and_quotes(tmp_path):
    path = tmp_path / "reviews.tsv"
    path.write_text('text\tlabel\nit is "great\tpos\nawful , really\tneg\nfine\tpos\n')
    ds = load_text_table(path)
    assert ds.texts == ['it is "great', "awful , really", "fine"]  # no CSV quoting in TSV
    assert ds.label_names == ["neg", "pos"] and ds.labels.tolist() == [1, 0, 1]


def test_csv_pairs_with_given_label_names_and_bom(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text('\ufeffq,a,y\n"one, two",x,no\nthree,y,yes\n', encoding="utf-8")
    ds = load_text_table(
        path, text_column="q", text_b_column="a", label_column="y", label_names=["yes", "no"]
    )
    assert ds.texts == ["one, two", "three"] and ds.texts_b == ["x", "y"]
    assert ds.labels.tolist() == [1, 0] and ds.labels.dtype == np.int64


def test_integer_and_regression_labels(tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("text,label\na,0\nb,2\n")
    assert load_text_table(path).label_names == ["0", "1", "2"]
    reg = load_text_table(path, regression=True)
    assert reg.labels.dtype == np.float32 and reg.labels.tolist() == [0.0, 2.0]
    assert load_text_table(path, label_column=None).labels is None


def test_text_table_errors_name_the_problem(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("sentence,label\na,1\n")
    with pytest.raises(DataError, match=r"no column.*text"):
        load_text_table(path)
    path.write_text("text,label\na\n")
    with pytest.raises(DataError, match="line 2 has fewer fields"):
        load_text_table(path)
    with pytest.raises(DataError, match="cannot read"):
        load_text_table(tmp_path / "missing.csv")


def _write_wav(path, samples, rate=16000, channels=1, width=2):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(np.asarray(samples, dtype=f"<i{width}").tobytes())


def test_audio_folder_pads_cuts_and_labels(tmp_path):
    for cls in ("go", "stop"):
        (tmp_path / cls).mkdir()
    _write_wav(tmp_path / "go" / "abc123_nohash_0.wav", np.full(8000, 16384))
    _write_wav(tmp_path / "stop" / "long.wav", np.full(20000, -16384))
    ds = load_audio_folder(tmp_path)
    assert ds.label_names == ["go", "stop"] and ds.labels.tolist() == [0, 1]
    assert ds.waveforms.shape == (2, 16000) and ds.waveforms.dtype == np.float32
    assert ds.waveforms[0, :8000].tolist() == [0.5] * 8000 and not ds.waveforms[0, 8000:].any()
    assert ds.waveforms[1].tolist() == [-0.5] * 16000
    assert ds.speakers == ["abc123", "noise:long"]


@pytest.mark.parametrize(
    ("rate", "channels", "what"), [(8000, 1, "8000 Hz"), (16000, 2, r"2 channel\(s\)")]
)
def test_audio_folder_rejects_non_16k_mono(tmp_path, rate, channels, what):
    (tmp_path / "yes").mkdir()
    _write_wav(tmp_path / "yes" / "a.wav", np.zeros(1600 * channels), rate=rate, channels=channels)
    with pytest.raises(DataError, match=rf"a\.wav is .*{what}.*16 kHz mono 16-bit"):
        load_audio_folder(tmp_path)


def test_audio_folder_rejects_8_bit_and_empty(tmp_path):
    (tmp_path / "yes").mkdir()
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(16000)
        w.writeframes(bytes(100))
    (tmp_path / "yes" / "b.wav").write_bytes(buf.getvalue())
    with pytest.raises(DataError, match="8-bit"):
        load_audio_folder(tmp_path)
    with pytest.raises(DataError, match="no class sub-folders"):
        load_audio_folder(tmp_path / "yes")


def test_image_folder_grayscale_rgb_and_resize(tmp_path):
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
    Image.new("L", (6, 4), 200).save(tmp_path / "cat" / "a.png")
    Image.new("L", (6, 4), 10).save(tmp_path / "dog" / "b.png")
    ds = load_image_folder(tmp_path)
    assert ds.images.shape == (2, 4, 6) and ds.images.dtype == np.uint8
    assert ds.labels.tolist() == [0, 1] and ds.images[0].min() == 200
    Image.new("RGB", (12, 8), (255, 0, 0)).save(tmp_path / "dog" / "c.jpg")
    with pytest.raises(DataError, match="pass size="):
        load_image_folder(tmp_path)
    rgb = load_image_folder(tmp_path, size=(4, 6))
    assert rgb.images.shape == (3, 4, 6, 3) and rgb.images[2, 0, 0, 0] > 200
    (tmp_path / "dog" / "d.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match=r"d\.png is not a readable image"):
        load_image_folder(tmp_path, size=(4, 6))


def test_subset_and_validation():
    ds = TextDataset("t", ["a", "b", "c"], None, np.array([0, 1, 0]), ["x", "y"])
    assert ds.subset(np.array([2])).texts == ["c"] and len(ds.subset([0, 1])) == 2
    with pytest.raises(IndexError):
        ds.subset([5])
    with pytest.raises(ValueError, match="labels has 2 entries"):
        TextDataset("t", ["a", "b", "c"], None, np.array([0, 1]))
