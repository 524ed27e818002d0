"""``nvm-choice``: the backbone memory technology against the request rate, crossovers marked.

The recipe's YAML is a study on one platform (edge-rram). For each candidate technology bundled with
hetsim (:data:`CANDIDATES` that exist in ``hw_models/data/technologies``), the platform's YAML is loaded
with ``memories.<memory>.technology`` replaced, through the normal platform loader; the workload is
placed and prepared once per technology and evaluated at every arrival rate of :data:`RATES_HZ`.
A crossover is a rate where two technologies' energy-per-inference curves cross (interpolated linearly in
log energy over log rate between sampled rates).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from simulator.reproduce.core import Caption, Context, Figure, Recipe, register

#: The backbone technologies compared, in legend order (those not bundled are left out and named).
CANDIDATES = ("sram-hp", "sram-lstp", "rram", "stt-mram", "sot-mram", "pcm", "fefet")
#: The memory whose technology is varied.
MEMORY = "backbone"
#: Arrival rates, Hz (full run; log-spaced 0.01 .. 10 Hz), and with ``--quick``.
RATES_HZ = tuple(float(r) for r in np.logspace(-2, 1, 13))
QUICK_RATES_HZ = (0.01, 0.3, 10.0)
QUICK_REQUESTS = 12
QUICK_SEQ_LEN = 32


def variant_platform(platform_ref: str, technology: str, memory: str = MEMORY, **fields):
    """The platform ``platform_ref`` (bundled name or path) with ``memories.<memory>.technology`` set
    to ``technology`` (and any other ``fields`` of that memory, written as in the file: ``capacity="1 MiB"``),
    built through the normal loader (validation, scaling laws)."""
    from hw_models.loader import build_platform, platform_path
    from hw_models.schema import PlatformFile, validate
    from simulator.reproduce.core import read_yaml

    path = platform_path(platform_ref)
    data = read_yaml(path)
    data["memories"][memory].update(technology=technology, **fields)
    data["name"] = f"{data.get('name', path.stem)}.{memory}-{technology}"
    spec = validate(PlatformFile, data, f"{path} ({memory}.technology={technology})")
    return build_platform(spec, source=str(path), base_dir=path.parent)


def available(candidates=CANDIDATES) -> tuple[list[str], list[str]]:
    """(bundled candidates, missing candidates)."""
    from hw_models.technology import list_technologies

    known = set(list_technologies())
    return [c for c in candidates if c in known], [c for c in candidates if c not in known]


def evaluate_grid(config, technologies: list[str], rates: tuple[float, ...], progress: bool = False) -> pd.DataFrame:
    """Energy per inference and its parts for every (technology, rate): one row each, SI units."""
    from simulator.cost.tables import prepare
    from simulator.results.result import Result
    from simulator.study.runner import build_stream, build_traces
    from simulator.prepare.served_workload import Workload

    if config.evaluator == "engine":
        from simulator.engine import simulate as evaluate
    else:
        from simulator.analytic import evaluate
    entry = config.platforms[0]
    traces = build_traces(config, entry.mode)
    rows = []
    for tech in technologies:
        platform = variant_platform(_platform_ref(config, 0), tech)
        base = Workload(f"{config.name}:{tech}", traces, build_stream(config))
        prepared = prepare(base, platform)
        for rate in rates:
            scenario = config.scenario.model_copy(update={"rate": float(rate)})
            stream = build_stream(config.model_copy(update={"scenario": scenario}))
            workload = Workload(f"{config.name}:{tech}@{rate:g}Hz", traces, stream)
            result = Result.from_run(evaluate(workload, platform, prepared=prepared), prepared=prepared)
            s = result.summary()
            rows.append({"technology": tech, "rate_Hz": float(rate), "requests": s["requests"],
                         "energy_per_inference_J": s["energy_per_inference_J"],
                         "dynamic_energy_per_inference_J": s["dynamic_energy_per_inference_J"],
                         "static_energy_per_inference_J": s["leakage_energy_per_inference_J"],
                         "leakage_share": s["leakage_share"], "latency_p99_s": s["latency_p99_s"],
                         "area_m2": s["area_m2"], "nvm_lifetime_s": s["nvm_lifetime_s"]})
    return pd.DataFrame(rows)


def _platform_ref(config, index: int) -> str:
    """A platform entry's reference as ``hetsim run`` resolves it: bundled name, or a path beside the study."""
    from pathlib import Path

    from hw_models import list_platforms

    ref = config.platforms[index].platform
    if ref in list_platforms():
        return ref
    beside = Path(config.source).parent / ref
    return str(beside if beside.exists() else ref)


def crossovers(data: pd.DataFrame, value: str = "energy_per_inference_J") -> pd.DataFrame:
    """Every rate where two technologies' curves of ``value`` cross: rate (Hz), value, the two
    technologies, and which is cheaper above the crossover. Interpolated in log-log between samples."""
    techs = list(dict.fromkeys(data["technology"]))
    rows = []
    curves = {t: data[data["technology"] == t].sort_values("rate_Hz") for t in techs}
    for i, a in enumerate(techs):
        for b in techs[i + 1:]:
            ra, rb = curves[a], curves[b]
            rates = ra["rate_Hz"].to_numpy()
            if not np.array_equal(rates, rb["rate_Hz"].to_numpy()):
                continue
            la, lb = np.log(ra[value].to_numpy()), np.log(rb[value].to_numpy())
            diff = la - lb
            for k in range(len(rates) - 1):
                if diff[k] == 0 or np.sign(diff[k]) == np.sign(diff[k + 1]):
                    continue
                f = diff[k] / (diff[k] - diff[k + 1])
                lr = math.log(rates[k]) + f * (math.log(rates[k + 1]) - math.log(rates[k]))
                lv = la[k] + f * (la[k + 1] - la[k])
                rows.append({"technology_a": a, "technology_b": b, "rate_Hz": math.exp(lr),
                             value: math.exp(lv), "cheaper_above": a if diff[k + 1] < 0 else b})
    return pd.DataFrame(rows, columns=["technology_a", "technology_b", "rate_Hz", value, "cheaper_above"])


def leakage_half_rates(data: pd.DataFrame) -> dict[str, float]:
    """Per technology, the rate (Hz) above which leakage is less than half the energy (log interpolated);
    NaN when it never drops below half in the sampled range, 0 when it is below half everywhere."""
    out = {}
    for tech, rows in data.groupby("technology", sort=False):
        rows = rows.sort_values("rate_Hz")
        r, s = rows["rate_Hz"].to_numpy(), rows["leakage_share"].to_numpy()
        if s[0] < 0.5:
            out[tech] = 0.0
            continue
        k = next((k for k in range(len(s) - 1) if s[k] >= 0.5 > s[k + 1]), None)
        if k is None:
            out[tech] = float("nan")
            continue
        f = (s[k] - 0.5) / (s[k] - s[k + 1])
        out[tech] = float(math.exp(math.log(r[k]) + f * (math.log(r[k + 1]) - math.log(r[k]))))
    return out


def build(context: Context) -> list[Figure]:
    """Evaluate the technology × rate grid and draw energy per inference and leakage share."""
    from simulator.reproduce import style
    from simulator.study.runner import load_study

    config = load_study(context.config)
    if context.quick:
        config = config.with_overrides(requests=QUICK_REQUESTS).model_copy(update={"seq_len": QUICK_SEQ_LEN})
    techs, missing = available()
    rates = QUICK_RATES_HZ if context.quick else RATES_HZ
    data = evaluate_grid(config, techs, rates, progress=context.progress)
    cross = crossovers(data)
    half = leakage_half_rates(data)

    fig, (top, middle, bottom) = style.figure(1, 3, height_in=4.8, sharex=True)
    best = data.groupby("rate_Hz")["energy_per_inference_J"].transform("min")
    data["relative_to_best"] = data["energy_per_inference_J"] / best
    for i, tech in enumerate(techs):
        rows = data[data["technology"] == tech].sort_values("rate_Hz")
        kw = dict(color=style.PALETTE[i % 8], marker=style.MARKERS[i % 8], label=tech)
        top.plot(rows["rate_Hz"], rows["energy_per_inference_J"] * 1e3, **kw)
        middle.plot(rows["rate_Hz"], rows["relative_to_best"], **kw)
        bottom.plot(rows["rate_Hz"], rows["leakage_share"] * 100, **kw)
    envelope = _envelope_changes(data, cross)
    if len(cross):
        top.scatter(cross["rate_Hz"], cross["energy_per_inference_J"] * 1e3, marker="o", s=34,
                    facecolors="none", edgecolors="#777777", linewidths=0.9, zorder=4, label="crossover")
    for n, row in enumerate(envelope.itertuples()):
        top.annotate(f"{row.rate_Hz:.2g} Hz", (row.rate_Hz, row.energy_per_inference_J * 1e3),
                     xytext=(4, 6 + 8 * (n % 2)), textcoords="offset points", fontsize=6)
    bottom.axhline(50, color="#555555", linestyle=":", linewidth=0.8)
    for ax in (top, middle, bottom):
        ax.set_xscale("log")
    top.set_yscale("log")
    style.log_axis(middle, "y")
    top.set_ylabel("energy / inference (mJ)")
    middle.set_ylabel("over the best (×)")
    bottom.set_ylabel("leakage share of energy (%)")
    bottom.set_xlabel("request arrival rate (Hz)")
    bottom.set_ylim(0, 100)
    top.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4)

    platform = config.platforms[0].platform
    best_low = data[data["rate_Hz"] == min(rates)].set_index("technology")["energy_per_inference_J"].idxmin()
    best_high = data[data["rate_Hz"] == max(rates)].set_index("technology")["energy_per_inference_J"].idxmin()
    this_run = (f"lowest energy per inference at {min(rates):g} Hz: {best_low}; at {max(rates):g} Hz: "
                f"{best_high}. Changes of the best technology: "
                + (", ".join(f"{r.technology_a}/{r.technology_b} at {r.rate_Hz:.3g} Hz" for r in envelope.itertuples())
                   or "none in the sampled range")
                + f". {len(cross)} pairwise crossovers in all (CSV rows with kind = crossover). Rate above "
                "which leakage is under half the energy: "
                + ", ".join(f"{t} {'never (in range)' if math.isnan(v) else ('always' if v == 0 else f'{v:.3g} Hz')}"
                            for t, v in half.items()) + ".")
    missing_text = (f" Not bundled in this hetsim, so not drawn: {', '.join(missing)}." if missing else "")
    caption = Caption(
        shows=(f"Energy per inference (top, log), the same relative to the cheapest technology at each "
               f"rate (middle) and the static (leakage, refresh, wake-up) share of it (bottom) against the Poisson request rate, for each technology of the shared backbone "
               f"memory ({MEMORY}, 16 MiB, 8 banks) of {platform}; grey circles mark where two curves cross. "
               f"adapter-ALBERT (Houlsby m=8 per repetition), 4 tasks, switch probability "
               f"{config.scenario.switch_probability:g}, {config.scenario.requests} requests per point, "
               f"evaluator {config.evaluator}.{missing_text}"),
        published=("The adapter-ALBERT paper picks ReRAM for the backbone (NVMExplorer's characterisation at "
                   "2 MB), and EdgeBERT stores its shared embeddings in eNVM, both arguing qualitatively that a "
                   "non-volatile memory that can be powered off between sentences wins at edge request "
                   "rates. Neither publishes a curve against request rate."),
        this_run=this_run,
        assumptions=("Non-volatile backbones are powered off between requests past their break-even time "
                     "(wake-up energy and latency from the technology files); SRAM backbones stay on (the "
                     "platform gives the backbone no power state, and gating would lose it). Per-access "
                     "energies and leakage are NVMExplorer's 22 nm figures scaled to 12 nm and 16 MiB by the "
                     "bundled capacity and node laws; activations and adapters stay in SRAM-HP on every "
                     "variant, at their data-retention voltage between requests (0.3x leakage: they hold the "
                     "adapters), so they set a floor of leakage at low rates that no "
                     "backbone choice removes. The highest rate (10 Hz) stays below the service capacity "
                     "(about 13 requests per second on edge-rram)."))
    data = pd.concat([data.assign(kind="point"),
                      cross.rename(columns={"technology_a": "technology"}).assign(kind="crossover")],
                     ignore_index=True)
    return [Figure("nvm-choice", "Backbone memory technology against request rate", fig, data, caption)]


def _envelope_changes(data: pd.DataFrame, cross: pd.DataFrame) -> pd.DataFrame:
    """The crossovers where the cheapest technology changes (on the lower envelope)."""
    if cross.empty:
        return cross
    keep = []
    for row in cross.itertuples(index=False):
        others = []
        for tech, rows in data.groupby("technology", sort=False):
            if tech in (row.technology_a, row.technology_b):
                continue
            rows = rows.sort_values("rate_Hz")
            others.append(float(np.exp(np.interp(np.log(row.rate_Hz), np.log(rows["rate_Hz"]),
                                                 np.log(rows["energy_per_inference_J"])))))
        if all(row.energy_per_inference_J <= o * (1 + 1e-9) for o in others):
            keep.append(row._asdict())
    return pd.DataFrame(keep, columns=cross.columns)


register(Recipe("nvm-choice", "backbone memory technology against request rate", "nvm-choice.yaml", build,
                "SRAM-HP/LSTP, ReRAM, STT-/SOT-MRAM, PCM, FeFET backbone vs arrival rate, crossovers marked"))
