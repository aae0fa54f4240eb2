"""The memory estimate of a replay counts its fixed cost (issue 19): the interpreter, the
libraries, the compiled engine and the per-step records, measured with ``/usr/bin/time -v
liqcascade run feb-2026 --positions 1000`` (1,146,556 kB cached, 1,425,508 kB while compiling, with
OKX in the scenario), less what the checking process already holds."""

from __future__ import annotations

import pytest

from liqcascade import resources
from liqcascade.errors import InputError


def test_the_fixed_cost_is_the_measured_one():
    assert resources.FIXED_BYTES >= 1_146_556e3  # the cached run's peak, rounded up
    assert resources.FIXED_BYTES + resources.COMPILE_BYTES >= 1_425_508e3  # the compiling run's
    assert resources.FIXED_BYTES <= 1.3e9 and resources.COMPILE_BYTES <= 0.5e9  # not padded beyond rounding


@pytest.mark.parametrize("compiles", [False, True])
def test_a_request_needs_its_positions_and_the_fixed_cost_not_yet_held(monkeypatch, compiles):
    monkeypatch.setattr(resources, "engine_compiles", lambda: compiles)
    fixed = resources.FIXED_BYTES + (resources.COMPILE_BYTES if compiles else 0)
    monkeypatch.setattr(resources, "current_rss_bytes", lambda: 0)
    assert resources.positions_bytes(0) == fixed
    assert resources.positions_bytes(1_000_000) == fixed + 1_000_000 * resources.BYTES_PER_POSITION
    # what the process holds already is in use (not available): it is not counted twice
    monkeypatch.setattr(resources, "current_rss_bytes", lambda: 300_000_000)
    assert resources.positions_bytes(0) == fixed - 300_000_000
    monkeypatch.setattr(resources, "current_rss_bytes", lambda: 5_000_000_000)
    assert resources.fixed_bytes_to_come() == 0
    assert resources.positions_bytes(10) == 10 * resources.BYTES_PER_POSITION


def test_a_tiny_run_on_a_machine_without_room_for_the_fixed_cost_is_refused(monkeypatch):
    """1,000 positions are 200 kB of arrays; the replay around them needs about 1.2 GB more.  With
    1.5 GB available (a request may take half) the per-position estimate alone would pass it."""
    monkeypatch.setattr(resources, "available_memory_bytes", lambda: 1_500_000_000)
    monkeypatch.setattr(resources, "current_rss_bytes", lambda: 0)
    monkeypatch.setattr(resources, "engine_compiles", lambda: False)
    assert 1_000 * resources.BYTES_PER_POSITION <= resources.MAX_SHARE * 1.5e9
    with pytest.raises(InputError) as exc:
        resources.require_positions(1_000, "1,000 positions")
    msg = str(exc.value)
    assert "\n" not in msg and "1,000 positions: needs about 1.2 GB of memory; this machine has 1.5 GB" in msg
    monkeypatch.setattr(resources, "available_memory_bytes", lambda: 4_000_000_000)
    resources.require_positions(1_000, "1,000 positions")


def test_the_real_process_figures_are_sane():
    rss = resources.current_rss_bytes()
    assert 10e6 < rss < 10e9
    assert 0 <= resources.fixed_bytes_to_come() <= resources.FIXED_BYTES + resources.COMPILE_BYTES
    assert isinstance(resources.engine_compiles(), bool)
