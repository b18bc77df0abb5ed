"""`python -m scpo.scaling`: the per-step timer and the growth exponent it reports."""

import json

import pytest

from scpo import phases, scaling


def timed(begin, ends):
    timer = phases.StepTimer()
    timer.begin, timer.ends = begin, list(ends)
    return timer


def test_a_step_is_the_median_gap_between_step_ends_and_the_first_step_carries_the_set_up():
    timer = timed(0.0, [5.0, 5.1, 5.2, 5.3, 9.0])  # a slow first step (the sampler), and one pause
    assert timer.first_step_seconds() == pytest.approx(5.0)
    assert timer.step_seconds() == pytest.approx(0.1)


def test_too_few_steps_is_an_error_not_a_number():
    with pytest.raises(ValueError, match="2 steps timed"):
        timed(0.0, [1.0, 2.0]).step_seconds()
    with pytest.raises(ValueError, match="no step"):
        timed(None, []).first_step_seconds()


def test_growth_exponent_reads_linear_flat_and_quadratic():
    sizes = [1.0, 2.0, 4.0, 8.0]
    assert scaling.growth_exponent(sizes, [3 * s for s in sizes]) == pytest.approx(1.0)
    assert scaling.growth_exponent(sizes, [0.5] * 4) == pytest.approx(0.0, abs=1e-9)
    assert scaling.growth_exponent(sizes, [s * s for s in sizes]) == pytest.approx(2.0)


@pytest.mark.slow
def test_the_command_writes_every_column_for_every_scale(tmp_path, capsys):
    out = tmp_path / "scaling.json"
    assert scaling.main(["--scales", "0.5", "1", "--steps", "4", "--no-prism-size", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert [row["user_scale"] for row in result["rows"]] == [0.5, 1.0]
    for row in result["rows"]:
        assert row["train_step_seconds"] > 0 and row["first_step_seconds"] > 0 and row["train_pairs"] > 0
    assert set(result["growth_exponents"]) == set(scaling.MEASURED)
    assert "loop start to first step's end" in capsys.readouterr().out
