"""The regime map (scpo/regimes.py, readings.regime_map, plotting.regime_map): the pieces without training."""

import dataclasses
import json

import pandas as pd
import pytest

from scpo import config, plotting, readings, regimes
from scpo.paths import ROOT

RAW = config.read_params(ROOT / "params.yaml")
SIM = dataclasses.replace(config.load_section(RAW, "simulation"), user_scale=0.3)
GRID = config.load_section(RAW, "regimes")


def test_a_point_sets_its_two_knobs_in_the_run_seeds_world():
    sim = regimes.point_simulation(SIM, 0.3, 0.45, 2)
    assert (sim.extreme_share, sim.country_share, sim.seed) == (0.3, 0.45, SIM.seed + 2)
    assert dataclasses.replace(sim, extreme_share=SIM.extreme_share, country_share=SIM.country_share,
                               seed=SIM.seed) == SIM


def test_country_pairs_are_the_country_alone_split_by_user_with_its_truth():
    pairs, test_texts, world = regimes.country_pairs(SIM, "Chile", 0.15, 0)
    assert set(pairs.country) == {"Chile"} and set(pairs.split) == {"train", "test"}
    assert pairs.groupby("user_id").split.nunique().max() == 1  # a user's pairs stay on one side
    assert pairs.truth_margin.notna().all() and set(pairs.extreme_annotator) <= {0.0, 1.0}
    test = pairs[pairs.split == "test"]
    assert set(test.chosen_id) | set(test.rejected_id) <= set(test_texts.utterance_id)
    assert not set(test_texts.utterance_id) & set(pairs[pairs.split == "train"].chosen_id)
    assert list(test_texts.columns) == ["utterance_id", "prompt", "response", "split"]  # stage 01's held-out texts
    assert set(test_texts.split) == {"test"} and test_texts.utterance_id.is_unique
    assert 0 < world["country_variance_share"] < 1  # the whole world's, though one country was simulated


def point_file(folder, extreme, share, differences):
    point = {"extreme_share": extreme, "country_share": share, "country": "chile",
             "planted": {"0": {"global_wrong_share": 0.3, "wrong_from_extreme_annotators": extreme,
                               "country_variance_share": share / 2}},
             "paired_differences": differences}
    regimes.point_path(folder, extreme, share).write_text(json.dumps(point))


def difference(comparison, mean, low, high, test_set="all"):
    return {"country": "Chile", "test_set": test_set, "comparison": comparison, "seeds": 3, "mean": mean,
            "sd_over_seeds": 0.01, "ci_low": low, "ci_high": high, "excludes_zero": low > 0 or high < 0}


def test_map_points_name_the_missing_ones_and_ignore_old_points(tmp_path):
    grid = dataclasses.replace(GRID, extreme_shares=(0.0, 0.3), country_shares=(0.15,))
    point_file(tmp_path, 0.0, 0.15, [difference("scpo - full", 0.02, 0.01, 0.03)])
    point_file(tmp_path, 0.9, 0.15, [])  # an old point, no longer in the grid
    with pytest.raises(FileNotFoundError, match=r"\(0\.3, 0\.15\)"):
        regimes.map_points(tmp_path, grid)
    point_file(tmp_path, 0.3, 0.15, [difference("scpo - full", -0.02, -0.03, -0.01),
                                     difference("scpo - full", 0.5, 0.4, 0.6, test_set="truth")])
    table = regimes.differences_table(regimes.map_points(tmp_path, grid))
    assert len(table) == 2 and set(table.test_set) == {"all"}  # one test set at a time
    assert table.set_index("extreme_share").wrong_from_extreme_annotators.to_dict() == {0.0: 0.0, 0.3: 0.3}


def test_the_reading_follows_the_intervals():
    table = pd.DataFrame([
        {"extreme_share": 0.0, "country_share": 0.15, **difference("scpo - full", 0.02, 0.01, 0.03)},
        {"extreme_share": 0.3, "country_share": 0.15, **difference("scpo - full", -0.02, -0.03, -0.01)},
        {"extreme_share": 0.1, "country_share": 0.15, **difference("scpo - full", 0.01, -0.01, 0.03)},
        {"extreme_share": 0.1, "country_share": 0.15, **difference("scpo - filter", 0.0, -0.01, 0.01)}])
    assert readings.regime_map(table, ["scpo - full", "scpo - filter"], 3) == (
        "Regime map (held-out pairs of the map's country, 3 worlds, paired intervals): scpo - full: above 0 at "
        "(extreme 0, country 0.15); below 0 at (extreme 0.3, country 0.15); cannot be told apart from 0 at 1 of 3 "
        "points. scpo - filter: cannot be told apart from 0 at 1 of 1 points.")


def test_the_heatmap_boxes_exactly_the_cells_whose_interval_excludes_zero():
    rows = [{"extreme_share": e, "country_share": s, **difference("scpo - full", 0.02, 0.01 if e else -0.01, 0.03)}
            for e in (0.0, 0.3) for s in (0.05, 0.45)]
    fig = plotting.regime_map(pd.DataFrame(rows), ["scpo - full"], 0.95, "test")
    boxes = [p for p in fig.axes[0].patches if not p.get_fill()]
    assert len(boxes) == 2  # the two cells at extreme share 0.3
    assert "boxed: excludes 0" in fig._suptitle.get_text()
