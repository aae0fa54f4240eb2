"""The report: one self-contained HTML file (plotly.js inlined, no external script), with every
chart the issue names, the simulated-vs-reported table (band, ✓/✗, true and as-reported totals side
by side), a plain statement of what was fitted, and static PNGs beside it.

Small runs only: 20,000 positions over a 2-hour copy of ``feb-2026``.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from small_scenarios import small_scenario

from liqcascade.report import (
    PNGS,
    liquidation_maps,
    minute_bars,
    population_liquidation_prices,
    run_and_report,
    write_report,
)
from liqcascade.scenario import run_scenario
from liqcascade.summary import summarize
from liqcascade.targets import compare, comparison_summary, load_targets

N_POSITIONS = 20_000


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    sc = small_scenario(tmp_path_factory.mktemp("scenario") / "feb-2026-2h.toml")
    run, pop = run_scenario(sc, n_positions=N_POSITIONS, seed=0)
    summary = summarize(run, pop, sc, seed=0)
    targets = load_targets("feb-2026")
    rows = compare(summary, targets)
    summary["targets"] = comparison_summary(rows, targets)
    out = tmp_path_factory.mktemp("report")
    path = write_report(out, run, pop, sc, dict(summary, run_id="test-run"), rows=rows, targets=targets)
    return sc, run, pop, summary, rows, path


def test_html_is_self_contained(reported):
    *_, path = reported
    page = path.read_text("utf-8")
    assert page.startswith("<!DOCTYPE html>")
    # no script, stylesheet or image fetched from anywhere: it opens offline
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.I)
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?(https?:)?//", page, re.I)
    assert not re.search(r"<img[^>]*\bsrc\s*=\s*[\"']?(https?:)?//", page, re.I)
    assert "<script src=http" not in page.lower().replace('"', "").replace("'", "")
    # plotly.js itself is inside (megabytes of it), once
    assert len(page) > 1_000_000 and page.count("Plotly.newPlot") == len(PNGS)


def test_every_chart_is_there(reported):
    *_, path = reported
    page = path.read_text("utf-8")
    for name in PNGS:
        assert f'id="fig-{name}"' in page, name
    for title in (
        "Mark prices per asset and venue",
        "Liquidations per 5 minutes by venue",
        "Depth within ±1 %",
        "Insurance funds, ADL and bad debt",
        "Branching ratio by wave",
        "Liquidation map at the start",
    ):
        assert title in page, title


def test_comparison_table_marks_every_target(reported):
    sc, run, pop, summary, rows, path = reported
    page = path.read_text("utf-8")
    table = page[page.index("<table class='cmp'>") :]
    table = table[: table.index("</table>")]
    assert table.count("<tr class=") == len(rows) == 9
    assert table.count("class='mark'>✓<") == sum(r.ok for r in rows)
    assert table.count("class='mark'>✗<") == sum(not r.ok for r in rows)
    for r in rows:
        assert r.label in table and r.band in table
    assert f"<b>{sum(r.ok for r in rows)} of 9</b>" in page


def test_true_and_reported_totals_side_by_side(reported):
    sc, run, pop, summary, rows, path = reported
    page = path.read_text("utf-8")
    assert "true liquidations" in page and "as reported (public feed)" in page
    from liqcascade.targets import fmt

    assert (
        f"<td>all venues</td><td class='num'>{fmt(summary['liquidations_usd'], 'USD')}</td>"
        f"<td class='num'>{fmt(summary['liquidations_usd_reported'], 'USD')}</td>" in page
    )


def test_report_states_the_simulations_scope(reported):
    """The reports count every venue and symbol; the run only its scenario's markets: the page
    says which, and how much of the as-reported total the throttled feeds print."""
    sc, run, pop, summary, rows, path = reported
    page = path.read_text("utf-8")
    venues = sorted({m.venue for m in sc.spec.markets})
    assets = sorted({m.asset for m in sc.spec.markets})
    assert (
        f"<b>Scope.</b> The simulation holds {', '.join(assets)} on {', '.join(venues)} "
        f"({len(sc.spec.markets)} markets)" in page
    )
    from liqcascade.engine.run import feed_throttles_s
    from liqcascade.targets import fmt

    binance = summary["venue_share_reported"]["binance"]
    assert binance is not None and 0.0 <= binance < 1.0
    # Binance's and OKX's public feeds are throttled (OKX is in the bundled scenarios)
    throttled = [v for v, w in zip(venues, feed_throttles_s(venues)) if w > 0]
    assert "binance" in throttled
    printed = sum(summary["venue_share_reported"][v] for v in throttled)
    assert f"feed is throttled ({', '.join(throttled)}) print {fmt(printed, 'fraction')} of it" in page


def test_report_says_what_was_fitted(reported):
    *_, path = reported
    page = path.read_text("utf-8")
    # the bundled parameters carry a [provenance] table: the report lists what was fitted, on what
    from liqcascade.scenario import load_parameters

    prov = load_parameters().provenance
    assert prov is not None and prov.fitted
    assert f"Fitted parameters ({len(prov.fitted)} of" in page
    for key in prov.fitted:
        assert f"<code>{key}</code>" in page
    assert "fitted on feb-2026, feb-2026-weekend" in page
    assert "Scenario overrides:</b> none" in page


def test_pngs_beside_the_report(reported):
    *_, path = reported
    for name in PNGS:
        png = path.parent / f"{name}.png"
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000, name


def test_minute_bars_keep_the_liquidated_usd(reported):
    sc, run, pop, summary, rows, path = reported
    bars = minute_bars(run.steps)
    assert bars["liq_long_usd"].sum() == pytest.approx(run.steps["liq_long_usd"].sum())
    assert bars["liq_short_usd"].sum() == pytest.approx(run.steps["liq_short_usd"].sum())
    assert len(bars) == 120 * run.steps.groupby(["venue", "asset"], observed=True).ngroups


def test_liquidation_map_places_longs_below_entry_and_shorts_above(reported):
    sc, run, pop, summary, rows, path = reported
    lp = population_liquidation_prices(pop)
    side, entry = np.asarray(pop.side), np.asarray(pop.entry)
    ok = np.isfinite(lp) & (lp > 0)
    assert ok.mean() > 0.5
    assert np.all(lp[ok & (side > 0)] < entry[ok & (side > 0)])
    assert np.all(lp[ok & (side < 0)] > entry[ok & (side < 0)])
    maps = liquidation_maps(pop, sc)
    assert set(maps) == set(sc.spec.assets) == {"BTC", "ETH", "SOL", "DOGE"}
    for a, m in maps.items():
        start = sc.spec.assets[a].start_price
        # survivorship: at the start no long is liquidated above the price, no short below it
        assert m["long_usd"][m["price"] > start + m["bin_size"]].sum() == 0
        assert m["short_usd"][m["price"] < start - m["bin_size"]].sum() == 0
        assert m["long_usd"].sum() > 0 and m["short_usd"].sum() > 0


def test_report_of_a_calm_run(tmp_path):
    """A run in which nothing (or little) is liquidated still gets its whole report."""
    sc = small_scenario(tmp_path / "calm.toml", sell=False)
    res = run_and_report(sc, out_dir=tmp_path / "out", seed=0, n_positions=N_POSITIONS)
    page = res.report.read_text("utf-8")
    assert res.report.parent == res.path and res.path.parent == tmp_path / "out" / "runs"
    assert page.count("Plotly.newPlot") == len(PNGS)
    assert all((res.path / f"{n}.png").is_file() for n in PNGS)
    assert res.summary["targets"]["total"] == 9


def test_empty_adl_and_bad_debt_panels_say_so(reported):
    sc, run, pop, summary, rows, path = reported
    page = path.read_text("utf-8")
    empty = summary["adl_usd"] == 0 and summary["bad_debt_usd"] == 0
    assert ("no ADL and no bad debt in this run" in page) == empty
