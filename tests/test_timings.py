"""Each stage's wall time (scpo/timings.py) and where a run's time goes (scpo/phases.py): what is recorded, when,
and how it is summed. Durations themselves are not asserted (they belong to a machine), only their bookkeeping."""

import json
import sys
import time

import pytest

from scpo import timings
from scpo.paths import RUN_ROOT_ENV
from scpo.phases import Phases


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv(RUN_ROOT_ENV, str(tmp_path))
    return tmp_path


def test_a_command_that_succeeds_records_its_wall_time_and_passes_its_exit_status(root):
    assert timings.main(["run", "data@0", "--", sys.executable, "-c", "import time; time.sleep(0.2)"]) == 0
    record = json.loads((root / "reports/timings/data@0.json").read_text())
    assert record["stage"] == "data@0" and 0.2 <= record["seconds"] < 30 and record["cpus"] >= 1


def test_a_shell_command_line_runs_in_a_shell(root):
    assert timings.main(["run", "figures", "--", f"{sys.executable} -c 'print(1)' && {sys.executable} -c 'print(2)'"]) == 0
    assert (root / "reports/timings/figures.json").is_file()


def test_a_command_that_fails_records_nothing_and_returns_its_status(root):
    assert timings.main(["run", "data@1", "--", sys.executable, "-c", "raise SystemExit(3)"]) == 3
    assert not (root / "reports/timings").exists()  # no half-truth: a failed stage has no time


def test_run_without_a_command_is_a_usage_error(root, capsys):
    assert timings.main(["run", "data@0"]) == 2
    assert "usage" in capsys.readouterr().err


def test_summary_groups_stages_by_name_and_lists_those_not_recorded(root):
    for stage, seconds in {"data@0": 1.5, "data@1": 2.0, "figures": 4.25}.items():
        (root / "reports/timings").mkdir(parents=True, exist_ok=True)
        (root / f"reports/timings/{stage}.json").write_text(json.dumps(
            {"stage": stage, "seconds": seconds, "cpus": 2, "finished": f"2026-12-03T10:00:0{int(seconds)}+00:00"}))
    result = timings.summary(root, ["data@0", "data@1", "training@chile", "figures"])
    assert result["groups"] == {"data": 3.5, "figures": 4.25} and result["total_seconds"] == 7.75
    assert result["stages"]["training@chile"] is None and result["not_recorded"] == ["training@chile"]
    assert result["first_finished"].endswith("01+00:00") and result["last_finished"].endswith("04+00:00")


def test_the_pipeline_stages_are_dvc_s_expanded_names_without_the_gathering_stage():
    from scpo.paths import ROOT

    stages = timings.pipeline_stages(ROOT)
    assert stages[:3] == ["notebook_sources", "model_source", "data@0"] and "timings" not in stages
    assert "training@chile" in stages and "tradeoff@0.7" in stages and stages[-1] == "figures"


def test_phases_sum_the_time_of_each_name():
    phases = Phases()
    for _ in range(2):
        with phases("tokenise"):
            time.sleep(0.01)
    phases.add("checkpointing", 0.5)
    assert set(phases.seconds) == {"tokenise", "checkpointing"} and phases.seconds["checkpointing"] == 0.5
    assert 0.02 <= phases.seconds["tokenise"] < 5
    with pytest.raises(ValueError), phases("scoring"):
        raise ValueError("a failing block still counts")
    assert phases.seconds["scoring"] >= 0
