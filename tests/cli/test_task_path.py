"""A user's own file given where a task name goes gets one line naming --data."""

from __future__ import annotations

from pathlib import Path


def test_a_data_file_in_the_task_slot_names_the_data_option(run_cli, tmp_path: Path) -> None:
    data = tmp_path / "yelp_train.tsv"
    data.write_text("text\tlabel\ngreat food\t1\ncold soup\t0\n")
    out = tmp_path / "teacher"
    result = run_cli("finetune", "minilm-l6", str(data), "--out", str(out))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"--data train={data}" in lines[0], result.stderr
    assert not out.exists()
