"""`tinyai quantize` as a real subprocess: writes an artifact whose graph has integer ops."""

import subprocess
import sys

import onnx
import pytest


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tinyai", "quantize", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_cli_quantizes_a_saved_model_to_an_integer_artifact(tmp_path) -> None:
    from tinyai.models import LeNet300100, LeNet300100Config, save_model

    save_model(LeNet300100(LeNet300100Config()), tmp_path / "lenet")
    out = tmp_path / "artifact"
    proc = _run(
        str(tmp_path / "lenet"),
        str(out),
        "--task",
        "fashion-mnist",
        "--scheme",
        "int8-static",
        "--calibration",
        "64",
        "--eval-limit",
        "100",
        "--no-bench",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    ops = {
        n.op_type for n in onnx.load(str(out / "model.onnx"), load_external_data=False).graph.node
    }
    assert "MatMulIntegerToFloat" in ops and "Gemm" not in ops and "MatMul" not in ops


def test_cli_unknown_scheme_is_one_line_error(tmp_path) -> None:
    proc = _run("minilm-l6", str(tmp_path / "x"), "--task", "sst2", "--scheme", "int3")
    assert proc.returncode == 2
    assert "unknown scheme 'int3'" in proc.stderr  # the real CLI reports errors on stderr
    proc = _run("minilm-l6", str(tmp_path / "x"), "--task", "sst2", "--observer", "mse")
    assert proc.returncode == 2
    assert "--observer does not apply to int8-dynamic" in proc.stderr


def _int8_weight_max(artifact) -> int:
    import numpy as np
    from onnx import numpy_helper

    graph = onnx.load(str(artifact / "model.onnx")).graph
    return max(int(np.abs(numpy_helper.to_array(t).astype(np.int32)).max())
               for t in graph.initializer if t.data_type == onnx.TensorProto.INT8)


def test_cli_full_range_weights_flag_reaches_the_config(tmp_path) -> None:
    from tinyai.models import LeNet300100, LeNet300100Config, save_model

    save_model(LeNet300100(LeNet300100Config()), tmp_path / "lenet")
    widest = {}
    for flags in ((), ("--full-range-weights",)):
        out = tmp_path / f"artifact{len(flags)}"
        proc = _run(str(tmp_path / "lenet"), str(out), "--task", "fashion-mnist",
                    "--eval-limit", "50", "--no-bench", *flags)
        assert proc.returncode == 0, proc.stderr[-2000:]
        widest[bool(flags)] = _int8_weight_max(out)
    assert widest == {False: 63, True: 127}
    proc = _run(str(tmp_path / "lenet"), str(tmp_path / "x"), "--task", "fashion-mnist",
                "--scheme", "weight-only", "--full-range-weights")
    assert proc.returncode == 2
    assert "--full-range-weights does not apply to weight-only" in proc.stderr
