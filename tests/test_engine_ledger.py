"""The engine's ledger builder (simulator/engine/ledger_rows.py) gives the rows of the results layer's
LedgerBuilder: the same rows in the same order with the same values, on random workloads, platforms and
streams with contention (task switches, wake-ups, prefetch, pools of equal units)."""
import numpy as np
import pandas as pd
from hypothesis import given, settings, strategies as st

from simulator import testing as ht
from simulator.cost.tables import prepare
from simulator.engine.discrete_event import _Engine, run_events
from simulator.engine.ledger_rows import TEXT, EngineLedgerBuilder
from simulator.results.build import LedgerBuilder
from simulator.results.ledger import LEDGER_COLUMNS


class _PlainLedger(_Engine):
    """The engine with the results layer's own LedgerBuilder."""

    def __init__(self, *args):
        super().__init__(*args)
        self.builder = LedgerBuilder(self.prepared, self.pp)


@given(scenario=ht.scenarios(), in_flight=st.integers(1, 4), two_macs=st.booleans())
@settings(max_examples=30, deadline=None)
def test_engine_ledger_equals_the_plain_builder(scenario, in_flight, two_macs):
    workload, platform = scenario
    if two_macs:
        platform = ht.with_two_macs(platform)
    prepared = prepare(workload, platform)
    depth = platform.prefetch_depth
    fast = run_events(workload, platform, prepared, in_flight, depth)
    plain = run_events(workload, platform, prepared, in_flight, depth, engine=_PlainLedger)
    assert all(isinstance(fast.ledger[c].dtype, pd.CategoricalDtype) for c in TEXT)
    for c in TEXT:   # categories sorted, as a replayed run's
        cats = list(fast.ledger[c].cat.categories)
        assert cats == sorted(cats)
    as_text = {c: object for c in TEXT}
    pd.testing.assert_frame_equal(fast.ledger.astype(as_text), plain.ledger.astype(as_text), check_exact=True)
    pd.testing.assert_frame_equal(fast.requests, plain.requests, check_exact=True)
    assert fast.meta["memory_writes"] == plain.meta["memory_writes"]


@given(scenario=ht.scenarios(), in_flight=st.integers(2, 3))
@settings(max_examples=15, deadline=None)
def test_engine_ledger_object_columns_equal_the_parent_columns(scenario, in_flight):
    """Column for column, dtypes included (what power_states.run_transfers and replay read)."""
    workload, platform = scenario
    prepared = prepare(workload, platform)
    builders = []

    class Keep(_Engine):
        def __init__(self, *args):
            super().__init__(*args)
            builders.append(self.builder)

    run_events(workload, platform, prepared, in_flight, platform.prefetch_depth, engine=Keep)
    fast = builders[0]
    assert isinstance(fast, EngineLedgerBuilder)
    plain = LedgerBuilder(prepared, fast.pp)
    plain._templates = fast._templates
    plain.blocks = []
    for b in fast.blocks:          # the deferred op blocks, built the parent's way
        if isinstance(b, dict):
            plain.blocks.append(b)
        else:
            tpl = fast._templates[b.tkey]
            units = None
            if b.moved is not None:
                units = np.array(prepared.arrays(b.tkey[0]).unit)
                units[b.moved] = b.moved_units
            plain.ops(b.request, b.task, b.tkey[1], None, b.phase_t0, b.tkey[2], key=b.tkey[0], units=units)
            assert plain._templates[b.tkey] is tpl
    a, b = fast.columns(text="object"), plain.columns()
    assert list(a) == list(LEDGER_COLUMNS) == list(b)
    for c in LEDGER_COLUMNS:
        assert a[c].dtype == b[c].dtype, c
        np.testing.assert_array_equal(a[c], b[c], err_msg=c)
