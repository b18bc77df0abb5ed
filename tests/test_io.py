"""Atomic outputs: a write that fails half-way leaves the previous file (or none), never a partial one."""

import json
from pathlib import Path

import pandas as pd
import pytest

from scpo import io
from scpo.embedded import write_jsonl
from scpo.trainer import save_model


class Boom(RuntimeError):
    pass


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "metrics.json"
    io.write_json({"accuracy": 0.5}, path)
    with pytest.raises(Boom):
        with io.atomic_path(path) as tmp:
            tmp.write_text('{"accuracy": 0.')  # half-written, then the process fails
            raise Boom
    assert json.loads(path.read_text()) == {"accuracy": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_a_failed_first_write_leaves_nothing(tmp_path):
    class Unwritable:
        def __iter__(self):
            yield {"a": 1}
            raise Boom

    with pytest.raises(Boom):
        write_jsonl(Unwritable(), tmp_path / "sim" / "utterances.jsonl")
    assert list((tmp_path / "sim").iterdir()) == []


def test_tables_and_text_round_trip(tmp_path):
    frame = pd.DataFrame({"pair_id": [1, 2], "weight": [0.5, 1.0]})
    pd.testing.assert_frame_equal(io.read_table(io.write_table(frame, tmp_path / "t.parquet")), frame)
    assert io.write_text("x\n", tmp_path / "a" / "b.md").read_text() == "x\n"


def test_a_model_save_that_fails_keeps_the_previous_model(tmp_path):
    class Accelerator:
        def wait_for_everyone(self):
            pass

    class Trainer:
        def __init__(self, fail):
            self.fail, self.accelerator = fail, Accelerator()

        def is_world_process_zero(self):
            return True

        def save_model(self, folder):
            (tmp_path / "seen").write_text(folder)
            (Path(folder) / "model.safetensors").write_bytes(b"new")
            (Path(folder) / "README.md").write_text("TRL's generic card")
            if self.fail:
                raise Boom

    target = tmp_path / "models" / "scpo"
    save_model(Trainer(fail=False), target)
    assert (target / "model.safetensors").read_bytes() == b"new" and not (target / "README.md").exists()
    (target / "model.safetensors").write_bytes(b"old")
    with pytest.raises(Boom):
        save_model(Trainer(fail=True), target)
    assert (target / "model.safetensors").read_bytes() == b"old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["scpo"]  # no temporary folder left


def test_pair_values_keep_the_scores_dtype_unless_told_and_name_a_pair_without_one():
    import numpy as np

    from scpo.io import pair_values

    pairs = pd.DataFrame({"pair_id": ["p1", "p2"], "chosen_id": ["b", "a"], "rejected_id": ["a", "c"]})
    scores = pd.Series(np.array([0.5, 1.5, -1.0], dtype="float32"), index=pd.Index(["a", "b", "c"], dtype="string[pyarrow]"))
    chosen, rejected = pair_values(pairs, scores, "no score")
    assert chosen.dtype == np.float32 and chosen.tolist() == [1.5, 0.5] and rejected.tolist() == [0.5, -1.0]
    assert pair_values(pairs, scores, "no score", "float64")[0].dtype == np.float64
    with pytest.raises(KeyError, match="1 pairs have no score, e.g. pair p2"):
        pair_values(pairs, scores.drop("c"), "no score")
