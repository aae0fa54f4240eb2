"""Calibration: the objective's distances, and a small end-to-end fit that writes a loadable
parameters file with its provenance."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from liqcascade.calibrate import FreeParameter, calibrate, objective, row_distance, write_result
from liqcascade.errors import InputError
from liqcascade.scenario import bundled_text, load_parameters, load_scenario
from liqcascade.targets import Row


def row(sim, low, high, units="USD", kind="band", than_value=None, ok=False):
    return Row("k", "k", kind, units, sim, low, high, None, than_value, None, "", "", ok)


def short_copy(tmp_path, bundled: str, hours: float, name: str | None = None):
    """A bundled scenario cut to ``hours`` (and renamed to ``name``), written under ``tmp_path``
    without its market series: free, its population from the stated paths (what the fits vary)."""
    text = bundled_text(bundled).replace("horizon_hours = 48.0", f"horizon_hours = {hours}")
    text = text.split("\n[series]", 1)[0] + "\n"
    assert f"horizon_hours = {hours}" in text
    if name is not None:
        text = text.replace(f'name = "{bundled}"', f'name = "{name}"')
    f = tmp_path / f"{name or bundled}-{hours}h.toml"
    f.write_text(text)
    return f


def test_distances_are_zero_inside_and_grow_outside():
    assert row_distance(row(2.5e9, 2e9, 3.2e9)) == 0.0
    # log scale for money: twice the upper bound is log(2)/log(1.6) band widths away
    assert row_distance(row(6.4e9, 2e9, 3.2e9)) == pytest.approx(math.log(2) / math.log(1.6))
    assert row_distance(row(1e9, 2e9, 3.2e9)) == pytest.approx(math.log(2) / math.log(1.6))
    # linear for percent
    assert row_distance(row(28.0, 8.0, 18.0, units="percent")) == pytest.approx(1.0)
    # one-sided: 10 % of the bound is the width
    assert row_distance(row(0.81, 0.90, None, units="fraction")) == pytest.approx(1.0)
    # missing figure
    assert row_distance(row(None, 8.0, 18.0, units="percent")) == 10.0
    # relation
    assert row_distance(row(12.0, None, None, units="percent", kind="greater_than", than_value=10.0)) == 0.0
    assert row_distance(row(5.0, None, None, units="percent", kind="greater_than", than_value=10.0)) == pytest.approx(
        0.6
    )
    assert objective([row(6.4e9, 2e9, 3.2e9), row(28.0, 8.0, 18.0, units="percent")]) == pytest.approx(
        (math.log(2) / math.log(1.6)) ** 2 + 1.0
    )


def test_free_parameter_unit_mapping_round_trips():
    p = FreeParameter("market_maker.flow_sensitivity", 0.5, 50.0)
    assert p.log
    for x in (0.5, 3.0, 50.0):
        assert p.from_unit(p.to_unit(x)) == pytest.approx(x)
    q = FreeParameter("market_maker.min_multiplier", 0.1, 0.5)
    assert not q.log and q.from_unit(0.5) == pytest.approx(0.3)


def test_small_fit_writes_loadable_parameters(tmp_path):
    f = short_copy(tmp_path, "feb-2026", 1.0, "feb-2026-short")
    sc = load_scenario(f)
    free = [FreeParameter("market_maker.flow_sensitivity", 1.0, 30.0)]
    res = calibrate(sc, "feb-2026", free=free, n_positions=5_000, samples=2, refine_rounds=1, seed=0)
    assert len(res.history) >= 3
    assert res.best.objective <= res.start.objective
    assert res.best.objective == min(e.objective for e in res.history)
    paths = write_result(res, sc, tmp_path / "cal")
    params = load_parameters(paths["parameters"])
    assert params.market_maker.flow_sensitivity == pytest.approx(res.best.values["market_maker.flow_sensitivity"])
    assert params.provenance.fitted == ["market_maker.flow_sensitivity"]
    assert params.provenance.targets == ["feb-2026"]
    assert "in-sample" in paths["md"].read_text()


def test_refusals():
    with pytest.raises(InputError, match="nothing to fit"):
        calibrate("feb-2026", "feb-2026", free=[])
    with pytest.raises(InputError, match="unknown parameter"):
        from liqcascade.calibrate import with_values

        with_values(load_parameters(), {"market_maker.nope": 1.0})


def test_a_parameters_file_speaks_for_itself(tmp_path):
    """Provenance comes from the parameters in use: the bundled (fitted) file lists its fitted
    keys; a file without a [provenance] table reports every parameter as a prior."""
    from liqcascade.calibrate import parameters_toml
    from liqcascade.summary import parameter_provenance

    bundled = load_scenario("feb-2026")
    assert parameter_provenance(bundled)["fitted"] == bundled.params.provenance.fitted
    f = tmp_path / "priors.toml"
    f.write_text(parameters_toml(bundled.params, provenance=None))
    plain = load_scenario("feb-2026", parameters=load_parameters(f))
    prov = parameter_provenance(plain)
    assert prov["fitted"] == [] and prov["status"] == "priors (not calibrated)"


def test_a_candidate_whose_population_cannot_be_built_scores_as_failed(tmp_path):
    """A survivorship band so wide that no position could have survived the path: the population
    cannot hold the open interest; the candidate scores J = FAILED instead of stopping the fit."""
    from liqcascade.calibrate import FAILED, evaluate
    from liqcascade.targets import load_targets

    f = short_copy(tmp_path, "feb-2026", 0.1)
    ev = evaluate(
        [(load_scenario(f), load_targets("feb-2026"))], {"population.path_vol": 60.0}, n_positions=5_000, seed=0
    )
    assert ev.objective == FAILED and "cannot" in ev.summary["failed"]


def test_parse_free_reads_paths_and_ranges():
    from liqcascade.calibrate import parse_free

    params = load_scenario("feb-2026").params
    p = parse_free("population.leverage_mix.3.mean_notional_usd=1000:3000", params)
    assert (p.path, p.low, p.high) == ("population.leverage_mix.3.mean_notional_usd", 1000.0, 3000.0)
    for bad, says in [
        ("population.path_vol", "PATH=LOW:HIGH"),
        ("population.path_vol=1:x", "numbers"),
        ("population.path_vol=1:1", "below high"),
        ("population.path_vol=nan:1", "below high"),
        ("nosuch.key=1:2", "unknown parameter"),
        ("population.leverage_mix=1:2", "not a number"),
    ]:
        with pytest.raises(InputError, match=says):
            parse_free(bad, params)


def test_cli_fits_two_scenarios_jointly_with_chosen_parameters(tmp_path):
    """`calibrate A --also B=TARGETS --free PATH=LO:HI`: one objective over both scenarios' targets,
    only the named parameters fitted, both target sets in the provenance."""
    from typer.testing import CliRunner

    from liqcascade.cli import app

    a, b = short_copy(tmp_path, "feb-2026", 0.5, "a"), short_copy(tmp_path, "feb-2026-weekend", 0.5, "b")
    out = tmp_path / "cal"
    res = CliRunner().invoke(
        app,
        [
            "calibrate",
            str(a),
            "--targets",
            "feb-2026",
            "--also",
            f"{b}=feb-2026-weekend",
            "--free",
            "prices.arbitrage_rate=0.1:1.0",
            "--positions",
            "3000",
            "--samples",
            "1",
            "--rounds",
            "0",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, (res.output, res.exception)
    assert "of 19 figures" in res.stdout  # feb-2026's 9 target rows and the weekend's 10
    params = load_parameters(out / "model-parameters.toml")
    assert params.provenance.fitted == ["prices.arbitrage_rate"]
    assert params.provenance.targets == ["feb-2026", "feb-2026-weekend"]
    import json

    report = json.loads((out / "fit-report.json").read_text())
    assert report["scenario"] == "a + b" and report["evaluations"] == 2
    labels = [r["label"] for r in report["rows"]]
    assert len(labels) == 19 and sum(lab.startswith("b: ") for lab in labels) == 10


def test_several_seeds_average_the_per_seed_objectives(tmp_path):
    """evaluate(seed=(0, 1)) runs every scenario once per seed: its rows are the two single-seed
    evaluations' rows (labelled with the seed) and its objective is their mean."""
    from liqcascade.calibrate import evaluate
    from liqcascade.targets import load_targets

    f = short_copy(tmp_path, "feb-2026", 0.5)
    pairs = [(load_scenario(f), load_targets("feb-2026"))]
    one = [evaluate(pairs, {}, n_positions=4_000, seed=s) for s in (0, 1)]
    both = evaluate(pairs, {}, n_positions=4_000, seed=(0, 1))
    assert one[0].objective != one[1].objective  # the seeds differ, so the mean is a real average
    assert both.objective == pytest.approx((one[0].objective + one[1].objective) / 2, rel=1e-12)
    n = len(one[0].rows)
    assert len(both.rows) == 2 * n
    assert [r.label for r in both.rows] == [f"seed {s}: {r.label}" for s in (0, 1) for r in one[s].rows]
    assert [r.simulated for r in both.rows] == [r.simulated for e in one for r in e.rows]
    assert set(both.summary) == {"feb-2026 (seed 0)", "feb-2026 (seed 1)"}


def test_an_observed_evaluation_scores_the_replay_on_the_real_path(tmp_path):
    """mode="observed" scores the observed replay (the real path pinned): its BTC low is the
    path's, whatever the candidate; a free evaluation of the same candidate is a different run."""
    import shutil

    from small_scenarios import cut_text

    from liqcascade.calibrate import evaluate
    from liqcascade.targets import load_targets

    SCENARIOS_DIR = Path(__file__).resolve().parents[1] / "src" / "liqcascade" / "scenarios"
    (tmp_path / "s.toml").write_text(cut_text(2.0, series=True, flows=False), "utf-8")
    shutil.copy(SCENARIOS_DIR / "feb-2026.series.csv.gz", tmp_path / "feb-2026.series.csv.gz")
    pairs = [(load_scenario(tmp_path / "s.toml"), load_targets("feb-2026"))]
    vals = {"population.pareto_alpha": 1.3}
    obs = [evaluate(pairs, v, n_positions=3_000, seed=0, mode="observed") for v in ({}, vals)]
    free = evaluate(pairs, {}, n_positions=3_000, seed=0, mode="free")
    lows = [e.summary["feb-2026"]["low_usd"]["BTC"] for e in obs]
    assert lows[0] == pytest.approx(lows[1], rel=1e-3)  # the path's low, not the candidate's
    assert free.summary["feb-2026"]["low_usd"]["BTC"] != pytest.approx(lows[0], rel=1e-6)
    with pytest.raises(InputError):
        evaluate(pairs, {}, n_positions=3_000, seed=0, mode="pinned")


def test_a_fit_over_several_seeds_records_them(tmp_path):
    from typer.testing import CliRunner

    from liqcascade.cli import app

    a = short_copy(tmp_path, "feb-2026", 0.5)
    out = tmp_path / "cal"
    res = CliRunner().invoke(
        app,
        [
            "calibrate",
            str(a),
            "--targets",
            "feb-2026",
            "--seeds",
            "0,2",
            "--free",
            "prices.arbitrage_rate=0.1:1.0",
            "--positions",
            "3000",
            "--samples",
            "1",
            "--rounds",
            "0",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, (res.output, res.exception)
    assert "of 18 figures" in res.stdout  # 9 rows per seed
    params = load_parameters(out / "model-parameters.toml")
    assert params.provenance.seeds == [0, 2] and params.provenance.seed == 0
    assert "with seeds 0, 2 (J is the mean over them)" in (out / "fit-report.md").read_text()
    # a run with these parameters says which seeds they were fitted over
    from liqcascade.report import _provenance_html
    from liqcascade.summary import parameter_provenance

    sc = load_scenario(a, parameters=params)
    assert parameter_provenance(sc)["fitted_seeds"] == [0, 2]
    html, _ = _provenance_html(sc, {}, None)
    assert "over seeds 0, 2 (the mean objective)" in html
    assert parameter_provenance(load_scenario("feb-2026"))["fitted_seeds"] == [0, 1, 2]


@pytest.mark.parametrize(
    "args, says",
    [
        (["--seeds", "0,x"], "comma-separated integers"),
        (["--seeds", "1,1"], "distinct non-negative"),
        (["--seeds", ","], "at least one seed"),
        (["--seed", "-1"], "distinct non-negative"),
        (["--seed", "3", "--seeds", "0,1"], "not both"),
        (["--also", "nosuch"], "no scenario named"),
        (["--free", "population.path_vol=2:1"], "below high"),
        (["--free", "population.path_vol=0.3:1", "--free", "population.path_vol=0.4:1"], "given twice"),
        (["--mode", "pinned"], "free or observed"),
    ],
)
def test_cli_calibrate_bad_input_is_one_line_and_exit_2(tmp_path, args, says):
    from typer.testing import CliRunner

    from liqcascade.cli import app

    res = CliRunner().invoke(app, ["calibrate", "--out", str(tmp_path / "cal"), *args])
    assert res.exit_code == 2
    assert says in res.output and "Traceback" not in res.output
    assert not (tmp_path / "cal").exists()
