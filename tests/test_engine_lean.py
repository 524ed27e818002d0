"""The lean capacity-1 resource (_Slot) gives bit-for-bit the numbers of ``simpy.Resource`` (the reference
implementation: the engine as it was), with contention, prefetch and switches, on random scenarios."""
import simpy
from hypothesis import given, settings, strategies as st

from simulator import testing as ht
from simulator.cost.tables import prepare
from simulator.engine import discrete_event
from simulator.engine.discrete_event import simulate

@given(scenario=ht.scenarios(), in_flight=st.integers(1, 4))
@settings(max_examples=40, deadline=None)
def test_slot_equals_simpy_resource(scenario, in_flight):
    workload, platform = scenario
    prepared = prepare(workload, platform)
    lean = simulate(workload, platform, prepared=prepared, max_in_flight=in_flight, replay=False)
    original = discrete_event._Engine.resource
    discrete_event._Engine.resource = simpy.Resource
    try:
        reference = simulate(workload, platform, prepared=prepared, max_in_flight=in_flight, replay=False)
    finally:
        discrete_event._Engine.resource = original
    ht.check_same_run(lean, reference)

def test_slot_grants_in_order_and_a_new_request_does_not_jump_the_queue():
    env = simpy.Environment()
    slot = discrete_event._Slot(env)
    order = []

    def user(name, hold):
        req = slot.request()
        if not req.triggered:
            yield req
        order.append((name, env.now))
        yield env.timeout(hold)
        slot.release(req)

    for name, hold in (("a", 1.0), ("b", 1.0), ("c", 0.5)):
        env.process(user(name, hold))
    env.run()
    assert order == [("a", 0.0), ("b", 1.0), ("c", 2.0)]
