"""The recipe registry and the runner of ``hetsim reproduce``.

A :class:`Recipe` is a bundled YAML file (a study that ``hetsim run`` runs as it is, or a recipe spec
validated like one) plus a Python function that runs it and draws its figures. The function receives a
:class:`Context` and returns :class:`Figure` objects: a matplotlib figure, the data behind it (a
DataFrame, written as CSV) and a :class:`Caption` (what it shows, what the seed papers publish, what this
run gives, the assumptions that drive the difference). :func:`run` runs recipes into one output folder,
writes ``<figure>.png``, ``<figure>.pdf`` and ``<figure>.csv`` per figure, ``reproduce.md`` (every figure
with its caption) and ``summary.json`` (recipes, files, seconds) through hetsim's output-folder guard
(:mod:`simulator.outdir`): a failing recipe leaves the folder as it was.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd

from simulator.errors import SimulationConfigError

#: Folder of the bundled recipe YAML files (and the platform files they use).
RECIPES_DIR = Path(__file__).parent / "recipes"


@dataclasses.dataclass(frozen=True)
class Caption:
    """A figure's caption, in four parts (markdown): ``shows`` (what is plotted, axes and units, source
    platform), ``published`` (what the seed papers publish for it, or that they publish no number),
    ``this_run`` (the numbers this run gives, computed from the data) and ``assumptions`` (what drives
    any difference)."""
    shows: str
    published: str
    this_run: str
    assumptions: str


@dataclasses.dataclass
class Figure:
    """One figure of a recipe: file ``stem`` (no extension), ``title``, the matplotlib ``fig``, the
    ``data`` behind it (SI units, unit in each column name) and its :class:`Caption`."""
    stem: str
    title: str
    fig: Any
    data: pd.DataFrame
    caption: Caption
    files: list[Path] = dataclasses.field(default_factory=list)
    problems: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Context:
    """What a recipe function gets: its YAML ``config`` path, the ``out`` folder (temporary until the
    run succeeds), ``quick`` (reduced size: fewer requests and points, for tests) and ``progress``."""
    config: Path
    out: Path
    quick: bool = False
    progress: bool = False


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A named reproduction: ``title``, its bundled YAML ``config`` (file name in :data:`RECIPES_DIR`),
    the ``function`` that runs it, and a one-line ``summary`` for ``--list``."""
    name: str
    title: str
    config: str
    function: Callable[[Context], list[Figure]]
    summary: str

    @property
    def config_path(self) -> Path:
        """The bundled YAML of this recipe."""
        return RECIPES_DIR / self.config


#: The registry, in the order ``all`` runs and reproduce.md shows them.
RECIPES: dict[str, Recipe] = {}


def register(recipe: Recipe) -> Recipe:
    """Add ``recipe`` to :data:`RECIPES` (a name may be registered once)."""
    if recipe.name in RECIPES:
        raise ValueError(f"recipe {recipe.name!r} registered twice")
    RECIPES[recipe.name] = recipe
    return recipe


def resolve(names: Sequence[str]) -> list[Recipe]:
    """The recipes named (``all`` for every one), in registry order, without repeats; an unknown name is
    a SimulationConfigError naming the known ones."""
    from simulator.reproduce import recipes  # noqa: F401  (registers the bundled recipes)

    wanted = list(names) or ["all"]
    unknown = [n for n in wanted if n != "all" and n not in RECIPES]
    if unknown:
        raise SimulationConfigError(f"reproduce: {unknown[0]!r}: unknown figure set; expected all or one of "
                                    f"{', '.join(RECIPES)}")
    chosen = set(RECIPES) if "all" in wanted else set(wanted)
    return [r for name, r in RECIPES.items() if name in chosen]


@dataclasses.dataclass
class RecipeRun:
    """The outcome of one recipe: its figures and the wall time it took, seconds."""
    recipe: Recipe
    figures: list[Figure]
    seconds: float


def run(names: Sequence[str], out_dir: str | Path, *, quick: bool = False, progress: bool = False,
        overwrite: bool = False, on_done: Callable[[RecipeRun], None] | None = None) -> list[RecipeRun]:
    """Run the named recipes into ``out_dir`` through hetsim's output-folder guard
    (:func:`simulator.outdir.claim_output`: a new or empty folder, or with ``overwrite`` an earlier hetsim
    output, whose own files alone are replaced; checked before any work; nothing changes unless every
    recipe succeeds). ``on_done`` is called after each recipe (for progress lines). Returns the runs."""
    from simulator.outdir import claim_output
    from simulator.reproduce import style

    recipes = resolve(names)
    runs: list[RecipeRun] = []
    with claim_output(out_dir, command="reproduce", field="--out", overwrite=overwrite,
                      need_bytes=8e6 * max(1, len(recipes))) as claimed:
        tmp = claimed.tmp
        for recipe in recipes:
            started = time.perf_counter()
            context = Context(config=recipe.config_path, out=tmp, quick=quick, progress=progress)
            with style.paper_style():
                figures = recipe.function(context)
                for fig in figures:
                    fig.files, fig.problems = style.save(fig.fig, tmp / fig.stem)
                    fig.fig = None
                    fig.data.to_csv(tmp / f"{fig.stem}.csv", index=False)
                    fig.files.append(tmp / f"{fig.stem}.csv")
            done = RecipeRun(recipe, figures, time.perf_counter() - started)
            runs.append(done)
            if on_done is not None:
                on_done(done)
        write_markdown(runs, tmp / "reproduce.md", quick=quick)
        write_summary(runs, tmp / "summary.json", quick=quick)
        final = claimed.commit(identity={"recipes": " ".join(r.recipe.name for r in runs), "quick": quick})
    for r in runs:
        for f in r.figures:
            f.files = [final / p.name for p in f.files]
    return runs


def write_markdown(runs: list[RecipeRun], path: Path, *, quick: bool = False) -> Path:
    """``reproduce.md``: per recipe a section, per figure the PNG, its caption in four parts and links to
    the PDF and the CSV."""
    from simulator._version import __version__

    lines = ["# hetsim reproduce: the seed studies' figures", "",
             f"Made by `hetsim reproduce {' '.join(r.recipe.name for r in runs)}{' --quick' if quick else ''}` "
             f"(hetsim {__version__}). Seed papers: Fu, Avaliani, Donato (2023), *Energy-efficient Task "
             "Adaptation for NLP Edge Inference Leveraging Heterogeneous Memory Architectures* "
             "(adapter-ALBERT); Tambe et al. (MICRO 2021), *EdgeBERT*. Every figure has its data as CSV "
             "(SI units, the unit in each column name) beside it.", ""]
    if quick:
        lines += ["**Reduced size (`--quick`)**: fewer requests and points than the full run; the numbers "
                  "are for checking the pipeline, not for a paper.", ""]
    for r in runs:
        lines += [f"## {r.recipe.name}: {r.recipe.title}", ""]
        for f in r.figures:
            png = next((p.name for p in f.files if p.suffix == ".png"), None)
            others = ", ".join(f"[{p.suffix[1:].upper()}]({p.name})" for p in f.files if p.suffix != ".png")
            lines += [f"### {f.title}", ""]
            if png:
                lines += [f"![{f.title}]({png})", ""]
            c = f.caption
            lines += [f"**What it shows.** {c.shows}", "",
                      f"**What the seed papers publish.** {c.published}", "",
                      f"**What this run gives.** {c.this_run[:1].upper()}{c.this_run[1:]}", "",
                      f"**Assumptions that drive the difference.** {c.assumptions}", "",
                      f"Files: {others}.", ""]
            if f.problems:
                lines += ["Layout warnings: " + "; ".join(f.problems), ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def write_summary(runs: list[RecipeRun], path: Path, *, quick: bool = False) -> Path:
    """``summary.json``: the recipes run, their figures and files, seconds per recipe (also the marker
    that lets a later run replace this folder)."""
    from simulator._version import __version__

    doc: dict[str, Any] = {"kind": "hetsim-reproduce", "version": __version__, "quick": quick, "recipes": [
        {"name": r.recipe.name, "seconds": round(r.seconds, 3), "config": r.recipe.config,
         "figures": [{"stem": f.stem, "title": f.title, "files": [p.name for p in f.files],
                      "problems": f.problems} for f in r.figures]} for r in runs]}
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return path


def read_yaml(path: str | Path) -> Any:
    """Parse a recipe YAML file with hetsim's safe reader (:func:`hw_models.yamlio.load_yaml`: duplicate
    keys, aliases, size and encoding checked); a problem is a one-line SimulationConfigError naming file
    and line."""
    from hw_models.yamlio import load_yaml

    return load_yaml(path, what="recipe", error=SimulationConfigError)


def load_spec(path: str | Path, model: type, *, quick: bool = False) -> Any:
    """Read a recipe spec YAML into the pydantic ``model``; with ``quick`` the file's ``quick:`` mapping
    overrides its top-level keys first. Bad content: one-line error naming file and field."""
    from hw_models.schema import validate

    data = read_yaml(path)
    if isinstance(data, dict):
        overrides = data.pop("quick", None) or {}
        if quick:
            data = {**data, **overrides}
    return validate(model, data, str(path))


def load_study(context: Context, quick_requests: int, quick_seq_len: int):
    """The recipe's study (:func:`simulator.study.runner.load_study` of ``context.config``); with
    ``context.quick`` reduced to ``quick_requests`` requests of ``quick_seq_len`` tokens."""
    from simulator.study.runner import load_study as load

    config = load(context.config)
    if context.quick:
        config = config.with_overrides(requests=quick_requests).model_copy(update={"seq_len": quick_seq_len})
    return config
