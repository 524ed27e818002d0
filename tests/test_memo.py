"""Memo tables keyed by value and bounded (issue #10 item 4): the sweep resolver's and the loader's memos
hold at most their bound, keep no object alive past it, share entries between equal values (not equal
ids), and a point's id follows the technology files it names as they are now."""
from __future__ import annotations

import gc
import weakref

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from hw_models import loader
from hw_models.loader import build_platform, platform_path
from hw_models.memo import Memo
from hw_models.schema import PlatformFile, validate
from hw_models.technology import TECHNOLOGIES_DIR
from simulator.sweep import points
from simulator.sweep.points import Keys, load_base, resolve
from simulator.sweep.spec import spec_from_dict


@given(maxsize=st.integers(1, 6), ops=st.lists(st.tuples(st.integers(0, 9), st.booleans()), max_size=60))
@settings(max_examples=80, deadline=None)
def test_memo_keeps_the_most_recently_used_entries_up_to_its_bound(maxsize, ops):
    memo, recent = Memo(maxsize), []            # recent: keys by last use, most recent last
    for key, read in ops:
        if read:
            got = memo.get(key)
            assert (got == key * 10) if key in recent else got is None
            if key in recent:
                recent.remove(key)
                recent.append(key)
        else:
            memo[key] = key * 10
            if key in recent:
                recent.remove(key)
            recent.append(key)
            recent = recent[-maxsize:]
        assert len(memo) <= maxsize
        assert sorted(k for k in range(10) if k in memo) == sorted(recent)


def test_get_or_makes_a_value_once_per_key_and_stores_nothing_on_error():
    memo, made = Memo(4), []

    def make(k):
        made.append(k)
        return k.upper()

    assert [memo.get_or(k, lambda k=k: make(k)) for k in "abab"] == list("ABAB")
    assert made == ["a", "b"]
    with pytest.raises(ZeroDivisionError):
        memo.get_or("c", lambda: 1 / 0)
    assert "c" not in memo and len(memo) == 2


def _spec(axes: dict):
    return spec_from_dict({"name": "memo", "study": "default", "platform": "edge-rram", "axes": axes})


def test_resolver_memos_stay_within_their_bounds_and_evicting_changes_no_point(monkeypatch):
    axes = {"study.scenario.rate": [f"{r} Hz" for r in (0.5, 1, 2, 3, 4, 5, 6, 7)],
            "platform.memories.backbone.banks": [1, 2, 4, 8]}
    spec = _spec(axes)
    base = load_base(spec)
    combos = [{"study.scenario.rate": r, "platform.memories.backbone.banks": b}
              for r in axes["study.scenario.rate"] for b in axes["platform.memories.backbone.banks"]]
    roomy = [resolve(spec, base, i, p) for i, p in enumerate(combos)]
    for name in ("_PARTS", "_PREP_KEYS", "_STUDIES"):
        monkeypatch.setattr(points, name, Memo(3))
    tight = [resolve(spec, base, i, p) for i, p in enumerate(combos)]
    for name in ("_PARTS", "_PREP_KEYS", "_STUDIES"):
        assert len(getattr(points, name)) <= 3
    assert [r.point_id for r in tight] == [r.point_id for r in roomy]
    assert [r.prep_key for r in tight] == [r.prep_key for r in roomy]
    assert [r.study.scenario.rate for r in tight] == [r.study.scenario.rate for r in roomy]
    assert len({r.point_id for r in roomy}) == len(combos)


def test_an_evicted_study_is_not_kept_alive(monkeypatch):
    """The study keys were memoised by ``id(study)`` in a table that held every study to stop its id being
    reused: no study was ever freed. Now a study lives only as long as a bounded memo holds it."""
    monkeypatch.setattr(points, "_STUDIES", Memo(2))
    points._study.cache_clear()
    monkeypatch.setattr(points, "_study", points._study.__wrapped__)   # no text memo: only _STUDIES holds studies
    spec = _spec({"study.scenario.rate": ["1 Hz", "2 Hz", "3 Hz", "4 Hz"]})
    base = load_base(spec)
    first = weakref.ref(resolve(spec, base, 0, {"study.scenario.rate": "1 Hz"}).study)
    gc.collect()
    assert first() is not None                  # still memoised
    for i, rate in enumerate(["2 Hz", "3 Hz", "4 Hz"], 1):
        resolve(spec, base, i, {"study.scenario.rate": rate})
    gc.collect()
    assert first() is None


def _tech_file(tmp_path, read_pJ: float):
    text = (TECHNOLOGIES_DIR / "rram.yaml").read_text().replace("read_energy: 6.18 pJ", f"read_energy: {read_pJ} pJ")
    assert f"{read_pJ} pJ" in text
    path = tmp_path / "my-rram.yaml"
    path.write_text(text)
    return path


def test_a_point_id_follows_its_technology_file_as_it_is_now(tmp_path):
    """A technology file edited between two sweeps in one process (a notebook, a long-lived worker) gives
    new point ids, so a resumed sweep evaluates the points again instead of keeping stale rows."""
    path = _tech_file(tmp_path, 6.18)
    spec = _spec({"platform.memories.backbone.technology": [str(path)]})
    base = load_base(spec)
    point = {"platform.memories.backbone.technology": str(path)}
    before = (Keys(spec, base).point_id(point), resolve(spec, base, 0, point))
    energy = before[1].platform().memories["backbone"].read_energy_per_access_J
    again = Keys(spec, base).point_id(point)
    assert again == before[0]                                       # nothing changed: same id
    _tech_file(tmp_path, 9.5)
    after = (Keys(spec, base).point_id(point), resolve(spec, base, 0, point))
    assert after[1].platform().memories["backbone"].read_energy_per_access_J > energy   # the loader reads it anew
    assert after[0] != before[0]
    assert after[1].point_id != before[1].point_id


def test_a_point_id_follows_a_technology_file_the_base_platform_names(tmp_path):
    path = _tech_file(tmp_path, 6.18)
    data = yaml.safe_load(platform_path("edge-rram").read_text())
    data["memories"]["backbone"]["technology"] = path.name
    pfile = tmp_path / "my-platform.yaml"
    pfile.write_text(yaml.safe_dump(data, sort_keys=False))
    spec = spec_from_dict({"name": "memo", "study": "default", "platform": str(pfile),
                           "axes": {"study.scenario.rate": ["1 Hz"]}})
    point = {"study.scenario.rate": "1 Hz"}
    before = Keys(spec, load_base(spec)).point_id(point)
    _tech_file(tmp_path, 9.5)
    assert Keys(spec, load_base(spec)).point_id(point) != before


def test_equal_technologies_share_memoised_memories(tmp_path):
    """A technology named by path is read anew on every build (a new object each time): memories were
    memoised by the technology's id, so each build added entries that never hit. Keyed by value, equal
    technologies share them."""
    path = _tech_file(tmp_path, 6.18)
    data = yaml.safe_load(platform_path("edge-rram").read_text())
    data["memories"]["backbone"]["technology"] = str(path)
    spec = validate(PlatformFile, data, "test")
    loader._MEMORIES.clear()
    platforms = [build_platform(spec, base_dir=tmp_path) for _ in range(5)]
    assert len(loader._MEMORIES) == len(data["memories"])
    assert len({p.memories["backbone"].read_energy_per_access_J for p in platforms}) == 1
    _tech_file(tmp_path, 9.5)                                        # another value: its own entry
    changed = build_platform(spec, base_dir=tmp_path)
    assert changed.memories["backbone"].read_energy_per_access_J > platforms[0].memories["backbone"].read_energy_per_access_J
    assert len(loader._MEMORIES) == len(data["memories"]) + 1


def test_dram_figures_are_memoised_by_the_spec_value():
    """Two value-equal DRAM specs (separate objects) share one derivation; a spec with one current
    changed gets its own figures, never the first spec's (an ``id()`` key could hand them over once the
    first spec is collected)."""
    from hw_models import dram
    from hw_models.technology import load_technology

    spec = load_technology("lpddr4").dram
    dram._FIGURES.clear()
    twin = spec.model_copy(deep=True)
    assert twin is not spec and dram.dram_figures(twin) == dram.dram_figures(spec) and len(dram._FIGURES) == 1
    rails = dict(spec.currents.rails)
    name, rail = next(iter(rails.items()))
    rails[name] = rail.model_copy(update={"idd2n": rail.idd2n * 2})
    other = spec.model_copy(update={"currents": spec.currents.model_copy(update={"rails": rails})})
    assert dram.dram_figures(other)["background_power"] > dram.dram_figures(spec)["background_power"]
    assert len(dram._FIGURES) == 2
