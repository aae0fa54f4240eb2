"""The engine's runs stay bit-identical through its refactors (issue 20, item 1).

The fingerprints below (sha256 of the steps, events and waves frames, of the summary and of the
observed mode's flows; :mod:`tests.engine.fingerprints`) were recorded from the engine before its
state moved into named bundles, on 6 Dec 2026, and the two free runs again when a flow came to be
split across an asset's books to one distance from every mid (``core.route_level``), the same
day; the compiled and the plain-Python paths give the same bits.  A change of the engine's arithmetic or order of operations changes them: record them
again only for a change meant to change the results (``python -m tests.engine.fingerprints``),
and say so in the commit.
"""

from __future__ import annotations

import pytest

from .fingerprints import SCENARIOS, fingerprint

RECORDED = {
    "free_pro_rata": {
        "events": "b207c5c1f4bd0c2c18d75a478142ab2a3020ae40d244c8d47828c2d42035a6a8",
        "methods": ["adl", "backstop", "book"],
        "n_events": 662,
        "steps": "6fa6fac41f6aef2f8c118112a3fc066b0083a24c710a47bae3d30b1c2d4c01f8",
        "summary": "c04b56371366bc2c653bfaf089c588c06fa634f78bebe4bb8e057163848e4100",
        "waves": "cd46d1f7cae46fe0c5d0b5d47e8ecf58d3d159562a4375270622a771490a4ad8",
    },
    "free_queue": {
        "events": "0b6bfd4fca41aba91f088e4ec8afcee8709bdb4f40f859d813934c0566c6fcba",
        "methods": ["adl", "backstop", "book"],
        "n_events": 959,
        "steps": "73f73f279ea8f55b796749350de2f1b997761cc547f4233ac19f412967e89edd",
        "summary": "155b1da72c37bd505bef91627e5421a333274e85d57dbbca29b135dc2352c0eb",
        "waves": "d5de864c9e349a87568e8b322caab451f47dea542623e4aa3ee728b5f07504d1",
    },
    "observed": {
        "events": "d9a08a8dadd554ebd97b89bffc0e76fe054df3d158d3021a75b2a91779c097e4",
        "implied_flow_usd": "2cf538b9e6a11ec1e4f464d528e38b4131c416837a664cb92ff188ac70cb9dfe",
        "methods": ["backstop", "book"],
        "n_events": 101,
        "steps": "cd6f6c155c5cc3ec538dff63bd500226aa8cf29029c3e221ee008d646a7cf639",
        "summary": "df661c0b04c73d202e62aa03259dff264c0b246da5451beebc638cc690eb5e6c",
        "timed_flow_usd": "3b7daf00a98001de8b0a14f99087a98c2dbbc96b3edbc0ccec2efc5df31687fb",
        "waves": "dade1f6fe587f8c3c0e41e7dc7336429e11cbbd6b425eaa227648074acc1a171",
    },
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_run_is_bit_identical_to_the_recorded_one(name):
    assert fingerprint(SCENARIOS[name]()) == RECORDED[name]
