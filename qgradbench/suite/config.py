"""Suite files: YAML data that lists experiments and the grids to sweep, validated, expanded.

A suite file looks like this::

    suite: my-study                 # the name: results go to OUT/my-study/RUN_ID/
    description: parameter-shift against SPSA on circles
    experiments:
      - experiment: train           # train | variance | estimator | runtime
        settings: {epochs: 20}      # fixed fields of the experiment's spec
        grid:                       # every combination of these (a list of grids: their union)
          - {method: [backprop, adjoint]}
          - {method: [parameter-shift, spsa], shots: [100, 1000]}
        vary: {seed: [0, 1, 2]}     # optional: crossed with every grid above

Keys of ``settings``, ``grid`` and ``vary`` are the fields of the experiment's spec
(:class:`~qgradbench.experiments.TrainSpec` and friends). Everything is checked before anything
runs: unknown keys, wrong types, empty grids, unknown names (method, data set, ansatz,
observable, model), shots with an exact method, data files (readable, a label column, numeric
features), circuits from plugins (built once), and limits on size. Errors are ``SuiteError``
with one line naming the file, the place and what is accepted.

Your own data and circuits: the train experiment takes a data file as
``dataset: {path: data.csv, label: target}``, a path relative to the suite file's folder (it is
resolved to an absolute path when the suite is read). An ``ansatz`` may name a circuit that a
plugin registered (:mod:`qgradbench.plugins`), but a suite file never imports code: the plugin
is given on the command line (``qgradbench run suite FILE --plugin mymodule``) and imported
before the suite is read; without it the name is unknown and the suite is refused.

Suite files are data: read with YAML's safe loader (no tags that construct objects), anchors
and aliases refused (no "billion laughs"), at most :data:`MAX_BYTES` bytes and
:data:`MAX_TASKS` runs. The suite name is the only part that reaches a path, and it must be a
plain name, so nothing in a suite can write outside the chosen output directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from qgradbench.experiments import EXPERIMENTS

MAX_BYTES = 1_000_000
MAX_TASKS = 20_000
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
TOP_KEYS = ("suite", "description", "experiments")
ENTRY_KEYS = ("experiment", "label", "settings", "grid", "vary")


class SuiteError(ValueError):
    """A suite file that cannot be run; the message is one line naming file, place and fix."""


@dataclass(frozen=True)
class Task:
    """One run of a suite: an experiment and the settings of its spec.

    Attributes:
        index: position in the expanded suite (tables are ordered by it).
        experiment: the experiment's name.
        label: the suite entry's label (or the experiment's name).
        settings: keyword arguments of the experiment's spec.
    """

    index: int
    experiment: str
    label: str
    settings: dict

    @property
    def key(self) -> str:
        """A stable identifier of what this task computes (experiment and settings)."""
        text = json.dumps([self.experiment, self.settings], sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    def describe(self) -> str:
        """One line for listings and logs."""
        parts = ", ".join(f"{k}={v}" for k, v in self.settings.items())
        return f"{self.experiment}[{self.label}] {parts}"


@dataclass(frozen=True)
class Suite:
    """A validated, expanded suite.

    Attributes:
        name: the suite's name.
        description: what it is for.
        source: where it was read from.
        config: the file's content (parsed).
        tasks: the expanded runs, in order.
    """

    name: str
    description: str
    source: str
    config: dict
    tasks: tuple[Task, ...]

    @property
    def digest(self) -> str:
        """A hash of the expanded runs: equal for suites that compute the same things."""
        keys = [t.key for t in self.tasks]
        return hashlib.sha1(json.dumps([self.name, keys]).encode()).hexdigest()[:12]


def builtin_names() -> list[str]:
    """Names of the suites shipped in the package."""
    folder = resources.files("qgradbench.suite") / "suites"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def builtin_path(name: str) -> Path:
    """The file of the built-in suite ``name``."""
    return Path(str(resources.files("qgradbench.suite") / "suites" / f"{name}.yaml"))


def load_suite(name_or_file: str) -> Suite:
    """Read, validate and expand a suite: a built-in name or a YAML file.

    Raises:
        SuiteError: for anything that would stop the suite from running (one line).
    """
    path = Path(name_or_file)
    if name_or_file in builtin_names() and not path.exists():
        path = builtin_path(name_or_file)
    elif not path.is_file():
        raise SuiteError(
            f"{name_or_file}: no such suite file, and not a built-in suite "
            f"(built-in: {', '.join(builtin_names())})"
        )
    try:
        data = path.read_bytes()
    except OSError as err:
        raise SuiteError(f"{path}: cannot read: {err.strerror}") from None
    return parse_suite(data, str(path), base=path.resolve().parent)


def _check_no_aliases(text: str, where: str) -> None:
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            mark = event.start_mark
            raise SuiteError(
                f"{where}: line {mark.line + 1}: YAML aliases (*{event.anchor}) are not allowed "
                "in suite files; write the values out"
            )


def parse_suite(data: bytes | str, where: str = "<suite>", base: Path | None = None) -> Suite:
    """Validate and expand suite text ``data`` (``where`` names it in errors).

    Relative data-file paths are resolved against ``base`` (the suite file's folder; default
    the current directory).
    """
    if len(data) > MAX_BYTES:
        raise SuiteError(f"{where}: {len(data)} bytes; suite files are limited to {MAX_BYTES}")
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    try:
        _check_no_aliases(text, where)
        config = yaml.safe_load(text)
    except yaml.YAMLError as err:
        problem = " ".join(str(getattr(err, "problem", None) or err).split())
        mark = getattr(err, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        raise SuiteError(f"{where}: not valid suite YAML: {line}{problem}") from None
    return _build(config, where, Path.cwd() if base is None else Path(base))


def _build(config: object, where: str, base: Path) -> Suite:
    if not isinstance(config, dict):
        raise SuiteError(f"{where}: a suite is a mapping with keys {', '.join(TOP_KEYS)}")
    _known_keys(config, TOP_KEYS, where, "top level")
    name = config.get("suite")
    if not isinstance(name, str) or not NAME.match(name) or ".." in name:
        raise SuiteError(
            f"{where}: suite: must be a plain name (letters, digits, '-', '_', '.'; it names "
            f"the results folder), got {name!r}"
        )
    description = config.get("description", "")
    if not isinstance(description, str):
        raise SuiteError(f"{where}: description: must be text, got {description!r}")
    entries = config.get("experiments")
    if not isinstance(entries, list) or not entries:
        raise SuiteError(f"{where}: experiments: must be a non-empty list of experiment entries")
    tasks: list[Task] = []
    for i, entry in enumerate(entries):
        tasks.extend(_expand(entry, f"{where}: experiments[{i}]", len(tasks), base))
    return Suite(name, description, where, config, tuple(tasks))


def _known_keys(mapping: dict, accepted: tuple[str, ...] | list[str], where: str, what: str):
    unknown = [k for k in mapping if k not in accepted]
    if unknown:
        raise SuiteError(
            f"{where}: unknown key {unknown[0]!r} at {what}; accepted: {', '.join(accepted)}"
        )


def _expand(entry: object, where: str, start: int, base: Path) -> list[Task]:
    if not isinstance(entry, dict):
        raise SuiteError(f"{where}: must be a mapping with keys {', '.join(ENTRY_KEYS)}")
    _known_keys(entry, ENTRY_KEYS, where, "an experiment entry")
    name = entry.get("experiment")
    if name not in EXPERIMENTS:
        raise SuiteError(
            f"{where}: experiment: unknown {name!r}; expected one of {', '.join(EXPERIMENTS)}"
        )
    label = entry.get("label", name)
    if not isinstance(label, str) or not NAME.match(label):
        raise SuiteError(f"{where}: label: must be a plain name, got {label!r}")
    fields = [f.name for f in dataclasses.fields(EXPERIMENTS[name].spec)]
    settings = entry.get("settings") or {}
    if not isinstance(settings, dict):
        raise SuiteError(f"{where}: settings: must be a mapping of {name} fields")
    _known_keys(settings, fields, f"{where}: settings", f"{name} settings")
    grids = _grids(entry.get("grid"), fields, f"{where}: grid", name)
    vary = _grids(entry.get("vary"), fields, f"{where}: vary", name)
    if len(vary) > 1:
        raise SuiteError(f"{where}: vary: must be one mapping of lists")
    size = sum(math.prod(len(v) for v in g.values()) for g in grids) * math.prod(
        len(v) for v in vary[0].values()
    )
    if start + size > MAX_TASKS:
        raise SuiteError(
            f"{where}: expands to {start + size} runs in all; a suite may have at most {MAX_TASKS}"
        )
    tasks = []
    for grid in grids:
        combined = {**grid, **vary[0]}
        keys = list(combined)
        for values in itertools.product(*(combined[k] for k in keys)):
            task_settings = {**settings, **dict(zip(keys, values, strict=True))}
            task_settings = resolve_paths(task_settings, base)
            _check(name, task_settings, where)
            tasks.append(Task(start + len(tasks), name, label, task_settings))
    return tasks


def _grids(value: object, fields: list[str], where: str, name: str) -> list[dict]:
    if value is None:
        return [{}]
    grids = value if isinstance(value, list) else [value]
    if not grids:
        raise SuiteError(f"{where}: an empty list; give at least one mapping of lists")
    for grid in grids:
        if not isinstance(grid, dict):
            raise SuiteError(f"{where}: must be a mapping of field: [values] (or a list of them)")
        _known_keys(grid, fields, where, f"{name} fields")
        for key, values in grid.items():
            if not isinstance(values, list):
                raise SuiteError(f"{where}: {key}: must be a list of values, got {values!r}")
            if not values:
                raise SuiteError(f"{where}: {key}: an empty list; give at least one value")
    return grids


def resolve_paths(settings: dict, base: Path) -> dict:
    """``settings`` with a data file's relative ``path`` made absolute against ``base``."""
    dataset = settings.get("dataset")
    if not isinstance(dataset, dict) or not isinstance(dataset.get("path"), str):
        return settings
    path = Path(dataset["path"]).expanduser()
    resolved = str(path if path.is_absolute() else (base / path).resolve())
    return {**settings, "dataset": {**dataset, "path": resolved}}


#: What the unknown-name errors add (a suite never imports code; see qgradbench/plugins.py).
HINTS = {
    "dataset": " or a data file as {path: FILE.csv, label: COLUMN}",
    "ansatz": " (circuits from your own module need --plugin MODULE)",
}


def _check(name: str, settings: dict, where: str) -> None:
    """Build the spec (its own validation) and check the names it only meets at run time."""
    from qgradbench import datasets
    from qgradbench.circuits import ANSATZES
    from qgradbench.methods import names as method_names

    known = {
        "method": method_names(),
        "dataset": datasets.names(),
        "ansatz": list(ANSATZES),
    }
    for key, accepted in known.items():
        value = settings.get(key)
        if key == "dataset" and isinstance(value, dict):
            continue  # a data file: the spec checks it
        if value is not None and value not in accepted:
            what = f"{key} " if key == "ansatz" else ""
            raise SuiteError(
                f"{where}: {key}: unknown {what}{value!r}; expected one of "
                f"{', '.join(accepted)}{HINTS.get(key, '')}"
            )
    try:
        spec = EXPERIMENTS[name].spec(**settings)
        if name == "train" and spec.model == "hybrid":
            from qgradbench.experiments.common import check_method

            check_method(spec.method, spec.shots, spec.method_options)
    except (TypeError, ValueError) as err:
        detail = " ".join(str(err).split())
        shown = ", ".join(f"{k}={v!r}" for k, v in settings.items())
        raise SuiteError(f"{where}: {detail} (in the run {shown})") from None
