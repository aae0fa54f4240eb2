"""The engine's runs stay bit-identical through its refactors (issue 20, item 1).

The fingerprints below (sha256 of the steps, events and waves frames, of the summary and of the
observed mode's flows; :mod:`tests.engine.fingerprints`) were recorded from the engine before its
state moved into named bundles, on 6 Dec 2026; the compiled and the plain-Python paths gave the
same bits.  A change of the engine's arithmetic or order of operations changes them: record them
again only for a change meant to change the results (``python -m tests.engine.fingerprints``),
and say so in the commit.
"""

from __future__ import annotations

import pytest

from .fingerprints import SCENARIOS, fingerprint

RECORDED = {
    "free_pro_rata": {
        "events": "36d375c91191c527e223931b8db0fcf0466943832367782e2bfe41b29cbb466c",
        "methods": ["adl", "backstop", "book"],
        "n_events": 662,
        "steps": "5a0c4876b8dd865f04ff81294a6e911283aa1ea299b5a1a31f164b1c5bf873fd",
        "summary": "06b0dc6707f209ec1606707a408eb089f601228d00710d63e3d7d47bdc607216",
        "waves": "74d8d2c10222653a285bd02c71feaa86401e34f7bccd5901cd870158901b4807",
    },
    "free_queue": {
        "events": "bce9c83e09ea64d72a689df04abcfee6b2c4b83c354dbbd6f40c756a380c65f9",
        "methods": ["adl", "backstop", "book"],
        "n_events": 556,
        "steps": "12d4d8467b5dad9158b102d16df3267c66e4125129e73cda96dbe60bae5562f9",
        "summary": "d9a6c17ad716b75ff1f821d3a0e99cbc775cd8aa36e41197007ddd327b6addca",
        "waves": "437a7850f583445d1874b572754da06f1a4b51d4173e855bb8a7d12b65f479bd",
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
