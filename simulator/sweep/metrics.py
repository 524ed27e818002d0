"""The metrics a sweep stores per point: every scalar of ``summary.csv`` (:meth:`Result.summary`) plus
the sweep's own columns."""
from __future__ import annotations

from simulator.results.result import CATEGORIES

#: Every scalar summary metric of a run (SI units, unit in each name), as in summary.csv.
SUMMARY_METRICS = (
    "requests", "switches", "energy_J", "energy_per_inference_J", "dynamic_energy_per_inference_J",
    "leakage_energy_per_inference_J", "leakage_share", *(f"{c}_energy_J" for c in CATEGORIES),
    "latency_mean_s", "latency_p50_s", "latency_p99_s", "makespan_s", "throughput_rps", "average_power_W",
    "peak_power_W", "power_window_s", "area_m2", "nvm_write_bytes", "nvm_lifetime_s", "nvm_lifetime_levelled_s",
    "arrival_rate_Hz", "offered_utilisation", "queue_growth", "lower_bound_J", "lower_bound_per_inference_J", "ratio_to_lower_bound",
    *(f"{k}_energy_per_inference_J" for k in ("compute", "sram", "nvm", "dram", "interconnect")))
#: Columns the sweep adds: the mean service time of a request (s). (The load, as in summary.csv:
#: ``arrival_rate_Hz`` over the arrivals, ``offered_utilisation`` = rate × mean service time, ``queue_growth``,
#: and the boolean ``overloaded`` = offered utilisation > 1: the queue grows without bound.)
EXTRA_METRICS = ("service_mean_s",)
#: Every metric an objective or a constraint may name.
METRICS = SUMMARY_METRICS + EXTRA_METRICS
#: Metrics that need the event timeline (not given by the closed-form fast path: NaN there).
TIMELINE_METRICS = ("peak_power_W",)
#: Metrics not used to rank an overloaded point (its queue grows without bound).
LATENCY_METRICS = ("latency_mean_s", "latency_p50_s", "latency_p99_s", "makespan_s", "throughput_rps",
                   "average_power_W")
