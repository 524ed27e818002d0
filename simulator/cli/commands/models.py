"""``hetsim models [NAME]``: the model zoo with parameter counts (one model's configuration with NAME)."""
from __future__ import annotations

import argparse
import json

EPILOG = """\
examples:
  hetsim models                          the zoo: family, layers, width, parameters
  hetsim models albert-base-v2           one model: configuration and notes
  hetsim models bert-base --layers 2 --hidden 128   the parameters of a smaller variant
  hetsim models --json                   machine-readable

Parameters are counted on the model as built (no weights are allocated: meta device). "backbone" is the
part that shared/reference/workloads.md quotes (RWKV without its untied LM head).
"""


def register(subparsers) -> None:
    """Add the ``models`` subcommand."""
    p = subparsers.add_parser(
        "models", help="list the model zoo with parameter counts",
        description="The models `hetsim trace` and studies can use, built offline from transformers config "
        "objects with random weights (no model hub). Sizes are overridable.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?", metavar="NAME", help="show one model in detail")
    p.add_argument("--layers", type=int, metavar="N", help="override the number of layers (with NAME)")
    p.add_argument("--hidden", type=int, metavar="N", help="override the hidden width (with NAME)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def _millions(n: int | float | None) -> str:
    return "-" if n is None else f"{n / 1e6:.2f} M"


def format_table(rows: list[dict]) -> str:
    """The zoo table: one line per model (parameter counts in millions of elements)."""
    header = ("model", "family", "layers", "hidden", "parameters", "backbone", "workloads.md", "what")
    lines = [header] + [(d["name"], d["family"], str(d["layers"]), str(d["hidden"]), _millions(d["parameters"]),
                         _millions(d["backbone_parameters"]), _millions(d["reference_parameters"]), d["summary"])
                        for d in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    right = {2, 3, 4, 5, 6}
    out = []
    for line in lines:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths))]
        out.append("  ".join(cells + [line[-1]]))
    out.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * 4)
    return "\n".join(out)


def format_detail(d: dict) -> str:
    """One model: the table's figures, the notes and the configuration fields that define its shape."""
    keys = ("vocab_size", "hidden_size", "d_model", "dim", "embedding_size", "num_hidden_layers", "num_layers",
            "num_decoder_layers", "n_layers", "num_attention_heads", "num_heads", "n_heads", "intermediate_size",
            "hidden_dim", "d_ff", "true_hidden_size", "intra_bottleneck_size", "num_feedforward_networks",
            "max_position_embeddings", "context_length", "hidden_act", "activation")
    lines = [f"{d['name']}: {d['summary']}",
             f"  class       {d['model_class']} ({d['family']} family)",
             f"  parameters  {d['parameters']:,} ({_millions(d['parameters'])}); backbone "
             f"{d['backbone_parameters']:,}" + (f"; workloads.md {_millions(d['reference_parameters'])}"
                                                 if d["reference_parameters"] else "")]
    if d["notes"]:
        lines.append(f"  notes       {d['notes']}")
    lines.append("  config")
    for k in keys:
        if k in d["config"] and d["config"][k] is not None:
            lines.append(f"    {k:<26} {d['config'][k]}")
    return "\n".join(lines)


def run(args) -> int:
    """Print the zoo table, or one model's detail. Returns the exit code."""
    from workloads import zoo
    from workloads.errors import WorkloadError

    if args.name is None and (args.layers is not None or args.hidden is not None):
        raise WorkloadError("--layers/--hidden: given without NAME; expected `hetsim models NAME --layers N`")
    if args.name is not None:
        d = zoo.describe(args.name, layers=args.layers, hidden=args.hidden)
        print(json.dumps(d, indent=2, default=str) if args.json else format_detail(d))
        return 0
    rows = [zoo.describe(name) for name in zoo.list_models()]
    if args.json:
        print(json.dumps([{k: v for k, v in d.items() if k != "config"} for d in rows], indent=2))
    else:
        print(format_table(rows))
    return 0
