"""Load the causRCA lathe data set: expert causal graph, machine hierarchy and fault-run events.

The data set (Fraunhofer IWU, Apache-2.0) describes a CNC vertical lathe:

- `expert_graph/all_nodes.csv`: one row per variable with its hierarchy path (`Lathe/Coolant/Filter`),
  its type (`Alarm` or `Variable`), direction (`input`, `output`) and an explanation;
- `expert_graph/all_edges.csv`: one row per expert-asserted causal edge with its explanation;
- `dig_twin/exp_<group>/exp_<n>/run_<m>/`: one fault run of a hardware-in-the-loop scenario. It has a
  long-format recording `time_s,node,value,type` (one row per value change) and `causes.json`
  (when the injected cause started and ended). The scenario's `exp_<n>_description.json` names the
  manipulated variables (the true root causes) and the alarms it raises;
- `real_op/*.csv`: recordings of normal production in the same long format.

The expert graph becomes Signal nodes with CAUSES edges, linked by HAS_SIGNAL to Equipment (the
lathe), System (first level below it) and Component (deeper levels) nodes joined by PART_OF.
Each alarm that a fault run raises becomes an Alarm event, and each deviation from the normal
recordings that `detect_deviations` finds becomes an AnomalyEvent, both with INVOLVES_SIGNAL and
FOR_ASSET. A run's times are seconds from its start, so each run is anchored at a start time.
"""

from __future__ import annotations

import csv
import json
import logging
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from kg_service.errors import InputDataError
from kg_service.graph.records import GraphBatch, slug

logger = logging.getLogger(__name__)

SOURCE = "causrca"
NODE_COLUMNS = {"id", "path", "label", "type", "io", "comment"}
EDGE_COLUMNS = {"source_id", "target_id", "source_label", "target_label", "edge_name", "comment"}
RUN_COLUMNS = {"time_s", "node", "value", "type"}
# Glob patterns of a run's `causes.json` below a data set's `dig_twin/` folder (group/scenario/run),
# a group folder (scenario/run), a scenario folder (run) or in the run folder itself.
RUN_PATTERNS = ("*/*/*/causes.json", "*/*/causes.json", "*/causes.json", "causes.json")
# A child variable that responds to a change of its causal parent does so within this many seconds
# in the normal recordings (measured lags are below 1.1 s), so later changes count as unexplained.
MAX_RESPONSE_SECONDS = 2.0
# Recording timestamps are publication times of the controller, not exact change times, so a child
# change this many seconds before its parent's change still counts as a response.
ORDER_TOLERANCE_SECONDS = 0.5
# A parent-child edge is a reliable response edge when the child responds to at least this share of
# the parent's changes in the normal recordings. A variable's changes are expected to be explained
# when at least this share of them follow a parent change.
RELIABLE_SHARE = 0.8
MIN_NORMAL_CHANGES = 3
# A value that a variable without reliable parents holds for less than this share of the normal
# recording time counts as a deviation when the fault run switches to it.
RARE_VALUE_SHARE = 0.01
# Files of a group folder with the group's slice of the expert graph, which `find_unused_files` does not list.
GROUP_GRAPH_SUFFIXES = ("_nodes.csv", "_edges.csv", "_expert_graph.gml")
# Labels of the hierarchy levels: the lathe, its first-level units, and every deeper level.
HIERARCHY_LABELS = ("Equipment", "System", "Component")


@dataclass(frozen=True)
class CausalVariable:
    """A variable of the expert graph: its label, hierarchy path, kind and explanation."""

    number: str
    label: str
    path: str
    kind: str | None
    description: str


@dataclass(frozen=True)
class CausalEdge:
    source: str
    target: str
    names: tuple[str, ...]
    description: str


@dataclass
class ExpertGraph:
    """The expert causal graph: variables by label and edges by (source label, target label)."""

    variables: dict[str, CausalVariable]
    edges: dict[tuple[str, str], CausalEdge]
    edge_rows: int

    def parents(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = defaultdict(list)
        for source, target in self.edges:
            result[target].append(source)
        return result


@dataclass(frozen=True)
class ValueChange:
    """One row of a recording: at `time` seconds, `signal` took `value` (text as recorded)."""

    time: float
    signal: str
    value: str
    kind: str


@dataclass(frozen=True)
class AlarmInterval:
    signal: str
    start: float
    end: float | None


@dataclass(frozen=True)
class Deviation:
    """A change (or a missing change) of a variable that the normal recordings do not explain."""

    signal: str
    time: float
    reason: str
    score: float


@dataclass
class FaultRun:
    """One run of a fault scenario with its ground truth."""

    path: Path
    group: str
    scenario: str
    run: str
    manipulated: list[str]
    scenario_alarms: list[str]
    timing: dict[str, float]
    changes: list[ValueChange] = field(repr=False)

    @property
    def key(self) -> str:
        return f"{self.group}/{self.scenario}/{self.run}"

    def alarm_intervals(self) -> list[AlarmInterval]:
        """Return every interval in which an alarm flag was True, in order of start."""
        intervals: list[AlarmInterval] = []
        open_since: dict[str, float] = {}
        for change in self.changes:
            if change.kind != "Alarm":
                continue
            if change.value == "True" and change.signal not in open_since:
                open_since[change.signal] = change.time
            elif change.value == "False" and change.signal in open_since:
                intervals.append(AlarmInterval(change.signal, open_since.pop(change.signal), change.time))
        intervals.extend(AlarmInterval(signal, start, None) for signal, start in open_since.items())
        return sorted(intervals, key=lambda item: (item.start, item.signal))


def _read_csv(path: Path, required: set[str]) -> list[dict[str, str]]:
    if not path.is_file():
        raise InputDataError("file not found", path=str(path),
                             hint="pass the causRCA data folder (with expert_graph/ and dig_twin/)")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = required - set(reader.fieldnames or [])
        if missing:
            raise InputDataError(f"missing columns {sorted(missing)}", path=str(path),
                                 hint="the file does not look like a causRCA export")
        return list(reader)


def read_expert_graph(root: Path) -> ExpertGraph:
    """Read the expert causal graph of the whole lathe from `root/expert_graph`."""
    nodes_path = root / "expert_graph" / "all_nodes.csv"
    edges_path = root / "expert_graph" / "all_edges.csv"
    variables: dict[str, CausalVariable] = {}
    by_number: dict[str, str] = {}
    for line, row in enumerate(_read_csv(nodes_path, NODE_COLUMNS), start=2):
        label = row["label"].strip()
        if not label or not row["path"].strip():
            raise InputDataError("variable without label or path", path=str(nodes_path), line=line)
        kind = "alarm" if row["type"].strip() == "Alarm" else (row["io"].strip() or None)
        variables[label] = CausalVariable(row["id"].strip(), label, row["path"].strip(), kind,
                                          " ".join(row["comment"].split()))
        by_number[row["id"].strip()] = label

    edges: dict[tuple[str, str], CausalEdge] = {}
    rows = _read_csv(edges_path, EDGE_COLUMNS)
    for row in rows:
        source, target = by_number.get(row["source_id"].strip()), by_number.get(row["target_id"].strip())
        if source is None or target is None:
            raise InputDataError(f"edge {row['edge_name']!r} names variable ids {row['source_id']}->{row['target_id']} "
                                 "that all_nodes.csv does not define", path=str(edges_path))
        explanation = " ".join(row["comment"].split())
        # Two rows may explain the same pair in other words; the relationship keeps both texts.
        previous = edges.get((source, target))
        if previous is not None:
            edges[(source, target)] = CausalEdge(source, target, previous.names + (row["edge_name"],),
                                                 f"{previous.description} | {explanation}")
        else:
            edges[(source, target)] = CausalEdge(source, target, (row["edge_name"],), explanation)
    logger.info("causRCA expert graph: %d variables, %d edge rows, %d distinct edges",
                len(variables), len(rows), len(edges))
    return ExpertGraph(variables, edges, len(rows))


def read_changes(path: Path) -> list[ValueChange]:
    """Read a long-format recording (`time_s,node,value,type`), sorted by time."""
    changes = []
    for line, row in enumerate(_read_csv(path, RUN_COLUMNS), start=2):
        try:
            time = float(row["time_s"])
        except ValueError:
            raise InputDataError(f"time_s {row['time_s']!r} is not a number", path=str(path), line=line) from None
        changes.append(ValueChange(time, row["node"].strip(), row["value"].strip(), row["type"].strip()))
    return sorted(changes, key=lambda change: change.time)


def find_fault_runs(root: Path) -> list[Path]:
    """Return every fault-run folder (one with `causes.json`) of a causRCA layout, in a stable order.

    `root` may be a data set folder (runs under `dig_twin/<group>/<scenario>/<run>/`), the
    `dig_twin/` folder itself, one group folder (`exp_<group>/exp_<n>/run_<m>/`), one scenario
    folder (`exp_<n>/run_<m>/`) or one run folder. Group and scenario names are not fixed.
    """
    base = root / "dig_twin" if (root / "dig_twin").is_dir() else root
    found = {path.parent for pattern in RUN_PATTERNS for path in base.glob(pattern) if path.is_file()}

    def order(run_dir: Path) -> tuple:
        parts = run_dir.relative_to(base).parts
        number = run_dir.name.rpartition("_")[2]
        run = (0, int(number), run_dir.name) if number.isdigit() else (1, 0, run_dir.name)
        return (len(parts), *parts[:-1], run)

    return sorted(found, key=order)


def find_unused_files(root: Path, run_dirs: list[Path]) -> list[str]:
    """Return the files under `root` (or its `dig_twin/`) that belong to no fault run, relative to that folder.

    Files inside a run folder, the scenario descriptions beside the runs, the `expert_graph/` and
    `real_op/` folders and hidden files (names starting with ".") count as used. So do a group's
    `<group>_nodes.csv`, `<group>_edges.csv` and `<group>_expert_graph.gml` beside its scenario
    folders, because they hold a slice of the expert graph that `expert_graph/` contains whole.
    """
    base = root / "dig_twin" if (root / "dig_twin").is_dir() else root
    if base.is_file():
        return []
    runs = {path.resolve() for path in run_dirs}
    scenarios = {path.parent for path in runs}
    groups = {path.parent for path in scenarios}
    unused = []
    for path in sorted(base.rglob("*")):
        relative = path.relative_to(base)
        if not path.is_file() or any(part.startswith(".") for part in relative.parts):
            continue
        if relative.parts[0] in ("expert_graph", "real_op"):
            continue
        resolved = path.resolve()
        if any(parent in runs for parent in resolved.parents):
            continue
        if resolved.parent in scenarios and path.name.endswith("_description.json"):
            continue
        if resolved.parent in groups and path.name.endswith(GROUP_GRAPH_SUFFIXES):
            continue
        unused.append(relative.as_posix())
    return unused


def run_key(run_dir: Path) -> str:
    """Return the key `<group>/<scenario>/<run>` of a fault run, reading only its scenario description."""
    scenario_dir = run_dir.parent
    candidates = _description_candidates(scenario_dir)
    description = _read_json(candidates[0]) if len(candidates) == 1 else {}
    return f"{_group_name(description, scenario_dir)}/{scenario_dir.name}/{run_dir.name}"


def _description_candidates(scenario_dir: Path) -> list[Path]:
    """Return `<folder name>_description.json` when the folder has it, else every `*_description.json` in it."""
    exact = scenario_dir / f"{scenario_dir.name}_description.json"
    if exact.is_file():
        return [exact]
    return sorted(path for path in scenario_dir.glob("*_description.json") if path.is_file())


def scenario_description_path(run_dir: Path) -> Path:
    """Return the scenario description of a run: the one `*_description.json` in the folder above the run.

    The released data names it `exp_<n>_description.json` after its scenario folder, but a copied or
    renamed scenario folder may hold it under its old name, so any single such file is accepted.
    Raises InputDataError when the folder above the run has none or several.
    """
    scenario_dir = run_dir.parent
    candidates = _description_candidates(scenario_dir)
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise InputDataError(
            f"no scenario description (*_description.json) in {scenario_dir}, the folder above the run folder "
            f"{run_dir.name}", path=str(run_dir),
            hint="the scenario's description JSON (such as exp_1_description.json, with manipulatedVars and "
                 "alarms) must be in the folder above the run; copy the whole scenario folder, or copy its "
                 "description JSON next to the run folder")
    names = ", ".join(path.name for path in candidates)
    raise InputDataError(f"several scenario descriptions in {scenario_dir}: {names}", path=str(run_dir),
                         hint="keep exactly one *_description.json in a scenario folder")


def _group_name(description: dict, scenario_dir: Path) -> str:
    return str(description.get("group") or scenario_dir.parent.name.removeprefix("exp_"))


def find_data_set_folder(path: Path, child: str) -> Path | None:
    """Return `path` or the nearest of its four parent folders that contains the folder `child`, or None.

    A group, scenario or run folder inside a whole causRCA data set so finds the data set's
    `expert_graph/` and `real_op/` folders.
    """
    path = path.resolve()
    for folder in [path, *path.parents][:5]:
        if (folder / child).is_dir():
            return folder
    return None


def read_fault_run(run_dir: Path) -> FaultRun:
    """Read one run: its recording, its timing (`causes.json`) and its scenario's ground truth."""
    scenario_dir = run_dir.parent
    timing_path = run_dir / "causes.json"
    recordings = sorted(run_dir.glob("faultDataset_*.csv"))
    if not timing_path.is_file():
        raise InputDataError("file not found", path=str(timing_path),
                             hint="pass a fault-run folder such as dig_twin/exp_probe/exp_1/run_1")
    description_path = scenario_description_path(run_dir)
    if len(recordings) != 1:
        raise InputDataError(f"expected one faultDataset_*.csv, found {len(recordings)}", path=str(run_dir))
    description = _read_json(description_path)
    timing = _read_json(timing_path)
    group = _group_name(description, scenario_dir)
    return FaultRun(run_dir, group, scenario_dir.name, run_dir.name, list(description.get("manipulatedVars", [])),
                    list(description.get("alarms", [])), {key: float(value) for key, value in timing.items()},
                    read_changes(recordings[0]))


def _read_json(path: Path) -> dict:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise InputDataError(f"invalid JSON: {error}", path=str(path)) from None
    if not isinstance(content, dict):
        raise InputDataError("expected a JSON object", path=str(path))
    return content


def read_normal_recordings(root: Path) -> list[list[ValueChange]]:
    """Read every normal-operation recording under `root/real_op`."""
    files = sorted((root / "real_op").glob("*.csv"))
    if not files:
        raise InputDataError("no normal recordings (real_op/*.csv)", path=str(root / "real_op"))
    return [read_changes(path) for path in files]


@dataclass
class NormalProfile:
    """Statistics of the normal recordings per variable and per causal edge."""

    value_share: dict[str, dict[str, float]]
    response_share: dict[tuple[str, str], float]
    response_lag: dict[tuple[str, str], float]
    explained_share: dict[str, float]


def _real_changes(changes: list[ValueChange]) -> tuple[dict[str, list[ValueChange]], dict[str, str]]:
    """Split a recording into each signal's value changes after its initial value."""
    last: dict[str, str] = {}
    initial: dict[str, str] = {}
    moves: dict[str, list[ValueChange]] = defaultdict(list)
    for change in changes:
        previous = last.get(change.signal)
        if previous is None:
            initial[change.signal] = change.value
        elif previous != change.value:
            moves[change.signal].append(change)
        last[change.signal] = change.value
    return moves, initial


def _responds(child_moves: list[ValueChange], time: float) -> ValueChange | None:
    for move in child_moves:
        if time - ORDER_TOLERANCE_SECONDS <= move.time <= time + MAX_RESPONSE_SECONDS:
            return move
    return None


def _explained(parent_moves: list[list[ValueChange]], time: float) -> bool:
    return any(time - MAX_RESPONSE_SECONDS <= move.time <= time + ORDER_TOLERANCE_SECONDS
               for moves in parent_moves for move in moves)


def learn_normal_profile(recordings: list[list[ValueChange]], graph: ExpertGraph) -> NormalProfile:
    """Measure value shares, parent-to-child response shares and lags in the normal recordings."""
    durations: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    answered: dict[tuple[str, str], int] = defaultdict(int)
    parent_changes: dict[tuple[str, str], int] = defaultdict(int)
    lags: dict[tuple[str, str], float] = defaultdict(float)
    explained: dict[str, int] = defaultdict(int)
    child_changes: dict[str, int] = defaultdict(int)
    parents = graph.parents()

    for changes in recordings:
        if not changes:
            continue
        end = changes[-1].time
        current: dict[str, tuple[str, float]] = {}
        for change in changes:
            if change.signal in current:
                value, since = current[change.signal]
                durations[change.signal][value] += change.time - since
            current[change.signal] = (change.value, change.time)
        for signal, (value, since) in current.items():
            durations[signal][value] += end - since

        moves, _ = _real_changes(changes)
        for (source, target) in graph.edges:
            for move in moves.get(source, []):
                parent_changes[(source, target)] += 1
                response = _responds(moves.get(target, []), move.time)
                if response is not None:
                    answered[(source, target)] += 1
                    lags[(source, target)] = max(lags[(source, target)], response.time - move.time)
        for signal, signal_moves in moves.items():
            parent_moves = [moves.get(parent, []) for parent in parents.get(signal, [])]
            for move in signal_moves:
                child_changes[signal] += 1
                explained[signal] += _explained(parent_moves, move.time)

    value_share = {}
    for signal, by_value in durations.items():
        total = sum(by_value.values())
        value_share[signal] = {value: seconds / total for value, seconds in by_value.items()} if total else {}
    response_share = {edge: answered[edge] / count for edge, count in parent_changes.items()
                      if count >= MIN_NORMAL_CHANGES}
    explained_share = {signal: explained[signal] / count for signal, count in child_changes.items()
                       if count >= MIN_NORMAL_CHANGES}
    return NormalProfile(value_share, response_share, dict(lags), explained_share)


def detect_deviations(run: FaultRun, graph: ExpertGraph, profile: NormalProfile) -> list[Deviation]:
    """Find the changes and missing changes in a fault run that the normal recordings do not explain.

    Three rules are learnt from the normal recordings:

    - a variable whose changes almost always follow a change of a causal parent changes without one;
    - the child of a reliable response edge does not respond to its parent's change within
      `MAX_RESPONSE_SECONDS`;
    - a variable that no parent explains switches to a value it holds for under `RARE_VALUE_SHARE`
      of the normal time.

    Only Binary variables are checked: alarm flags become alarm events, and counters, program names
    and continuous values take new values all the time in normal operation.
    """
    moves, _ = _real_changes(run.changes)
    parents = graph.parents()
    kinds = {change.signal: change.kind for change in run.changes}
    deviations: list[Deviation] = []

    for signal, signal_moves in moves.items():
        if kinds.get(signal) != "Binary":
            continue
        share = profile.explained_share.get(signal, 0.0)
        if parents.get(signal) and share >= RELIABLE_SHARE:
            parent_moves = [moves.get(parent, []) for parent in parents[signal]]
            deviations.extend(Deviation(signal, move.time, "changed without a change of a causal parent", share)
                              for move in signal_moves if not _explained(parent_moves, move.time))
            continue
        shares = profile.value_share.get(signal, {})
        for move in signal_moves:
            normal_share = shares.get(move.value, 0.0)
            if normal_share < RARE_VALUE_SHARE:
                deviations.append(Deviation(signal, move.time, f"took the rare value {move.value}", 1.0 - normal_share))

    for (source, target), share in profile.response_share.items():
        if share < RELIABLE_SHARE or kinds.get(target) != "Binary":
            continue
        due = profile.response_lag.get((source, target), 0.0) + ORDER_TOLERANCE_SECONDS
        for move in moves.get(source, []):
            if _responds(moves.get(target, []), move.time) is None:
                reason = f"did not respond to the change of {source}"
                deviations.append(Deviation(target, move.time + due, reason, share))
    return sorted(deviations, key=lambda item: (item.time, item.signal))


def signal_key(label: str) -> str:
    return f"signal:{SOURCE}:{slug(label)}"


def alarm_key(run: FaultRun, number: int) -> str:
    """Return the key of the run's `number`-th alarm interval (counting from 1, in order of start)."""
    return f"alarm:{SOURCE}:{slug(run.key)}:{number}"


def _asset_key(path: str) -> str:
    return f"asset:{SOURCE}:{slug(path)}"


def expert_graph_batch(graph: ExpertGraph, batch: GraphBatch | None = None) -> GraphBatch:
    """Return the machine hierarchy, the Signal nodes and the CAUSES edges as graph records."""
    batch = batch or GraphBatch()
    for variable in graph.variables.values():
        parts = variable.path.split("/")
        parent_key = None
        for depth in range(1, len(parts) + 1):
            path = "/".join(parts[:depth])
            label = HIERARCHY_LABELS[min(depth, len(HIERARCHY_LABELS)) - 1]
            key = batch.add_node(label, _asset_key(path), name=parts[depth - 1], nameEn=parts[depth - 1],
                                 description=path, source=SOURCE)
            if parent_key is not None:
                batch.add_relationship("PART_OF", key, parent_key)
            parent_key = key
        signal = batch.add_node("Signal", signal_key(variable.label), name=variable.label, nameEn=variable.label,
                                description=variable.description, signalKind=variable.kind, source=SOURCE)
        batch.add_relationship("HAS_SIGNAL", parent_key, signal)
    for edge in graph.edges.values():
        batch.add_relationship("CAUSES", signal_key(edge.source), signal_key(edge.target),
                               name=" | ".join(edge.names), description=edge.description)
    return batch


def run_events_batch(run: FaultRun, graph: ExpertGraph, start: datetime, deviations: list[Deviation] = (),
                     batch: GraphBatch | None = None) -> GraphBatch:
    """Return the run's alarms as Alarm events and its deviations as AnomalyEvents, anchored at `start`.

    Expects the expert graph's nodes in `batch` or already in Neo4j (the relationships point at them);
    raises InputDataError when the run names a variable that the expert graph does not define.
    """
    batch = batch or GraphBatch()
    hierarchy = expert_graph_batch(graph)
    for node in hierarchy.nodes.values():
        batch.nodes.setdefault(node.id, node)

    def asset_of(signal: str) -> str:
        variable = graph.variables.get(signal)
        if variable is None:
            raise InputDataError(f"variable {signal!r} is not in the expert graph", path=str(run.path),
                                 hint="load runs of the same causRCA release as expert_graph/")
        return _asset_key(variable.path)

    for number, alarm in enumerate(run.alarm_intervals(), start=1):
        key = batch.add_node(
            "Alarm", alarm_key(run, number), name=f"{alarm.signal} in {run.key}",
            startTime=start + timedelta(seconds=alarm.start),
            endTime=None if alarm.end is None else start + timedelta(seconds=alarm.end),
            elapsedSeconds=alarm.start, source=f"{SOURCE}:{run.key}")
        batch.add_relationship("INVOLVES_SIGNAL", key, signal_key(alarm.signal))
        batch.add_relationship("FOR_ASSET", key, asset_of(alarm.signal))

    for number, deviation in enumerate(deviations, start=1):
        key = batch.add_node(
            "AnomalyEvent", f"anomaly:{SOURCE}:{slug(run.key)}:{number}",
            name=f"{deviation.signal} {deviation.reason} in {run.key}", description=deviation.reason,
            startTime=start + timedelta(seconds=deviation.time), elapsedSeconds=deviation.time,
            peakScore=round(deviation.score, 6), source=f"{SOURCE}:{run.key}")
        batch.add_relationship("INVOLVES_SIGNAL", key, signal_key(deviation.signal))
        batch.add_relationship("FOR_ASSET", key, asset_of(deviation.signal))
    return batch


def lathe_key(graph: ExpertGraph) -> str:
    """Return the key of the top asset (the lathe) of the hierarchy."""
    roots = {variable.path.split("/")[0] for variable in graph.variables.values()}
    if len(roots) != 1:
        raise InputDataError(f"expected one top asset in the hierarchy paths, found {sorted(roots)}")
    return _asset_key(roots.pop())


@dataclass
class CausrcaLoad:
    """Counts of one causRCA load and the writer's report."""

    root: Path
    variables: int
    edges: int
    runs: list[str]
    alarms: int
    anomalies: int
    report: object


RUN_SPACING = timedelta(days=1)
# Runs outside the known run list get one of this many one-day slots (about 270 years) after the
# known runs, chosen by a hash of the run key.
UNKNOWN_RUN_SLOTS = 100_000


def run_slot(key: str, known_runs: list[str]) -> int:
    """Return the day index of the run `key`: its position in `known_runs`, else a slot from a hash of `key`.

    The slot depends only on the key, so a run gets the same times in whichever layout or subset
    it is loaded.
    """
    if key in known_runs:
        return known_runs.index(key)
    return len(known_runs) + zlib.crc32(key.encode("utf-8")) % UNKNOWN_RUN_SLOTS


@dataclass
class CausrcaBatch:
    """The graph records of one causRCA load before they are written, with the counts behind them."""

    root: Path
    variables: int
    edges: int
    runs: list[str]
    alarms: int
    anomalies: int
    batch: GraphBatch


def build_causrca_batch(root: Path, run_dirs: list[Path], start: datetime, with_deviations: bool = True, *,
                        normal_root: Path | None = None, known_runs: list[str] | None = None) -> CausrcaBatch:
    """Read the expert graph and `run_dirs` and return every record that `load_causrca` writes.

    Reads files only. The arguments are those of `load_causrca`.
    """
    graph = read_expert_graph(root)
    batch = expert_graph_batch(graph)
    normal_root = root if normal_root is None else normal_root
    profile = (learn_normal_profile(read_normal_recordings(normal_root), graph)
               if with_deviations and run_dirs else None)
    if known_runs is None:
        known_runs = [run_key(path) for path in find_fault_runs(root)]
    keys, anomalies = [], 0
    for run_dir in run_dirs:
        run = read_fault_run(run_dir)
        deviations = detect_deviations(run, graph, profile) if profile is not None else []
        index = run_slot(run.key, known_runs)
        run_events_batch(run, graph, start + index * RUN_SPACING, deviations, batch)
        keys.append(run.key)
        anomalies += len(deviations)
    alarms = sum(1 for node in batch.nodes.values() if node.label == "Alarm")
    return CausrcaBatch(root, len(graph.variables), len(graph.edges), keys, alarms, anomalies, batch)


def write_causrca_batch(store, schema, built: CausrcaBatch, batch_size: int = 1000, progress=None) -> CausrcaLoad:
    """Write the records of `build_causrca_batch` (MERGE on their keys) and return the counts with the report."""
    from kg_service.graph.writer import BatchedWriter

    report = BatchedWriter(store, schema, batch_size, progress).write(built.batch.nodes.values(),
                                                                      built.batch.relationships.values())
    return CausrcaLoad(built.root, built.variables, built.edges, built.runs, built.alarms, built.anomalies, report)


def load_causrca(store, schema, root: Path, run_dirs: list[Path], start: datetime, with_deviations: bool = True,
                 batch_size: int = 1000, progress=None, *, normal_root: Path | None = None,
                 known_runs: list[str] | None = None) -> CausrcaLoad:
    """Read the expert graph and `run_dirs`, check them all, then write them in one batched write.

    `root` contains `expert_graph/`, and `normal_root` (default `root`) contains the normal
    recordings in `real_op/` that the deviations are learnt from. The run with key
    `known_runs[i]` is anchored at `start + i * RUN_SPACING` (default: the runs of
    `find_fault_runs(root)`), whichever runs are loaded, and any other run at a slot given by
    `run_slot`. A run so always gets the same times, and the events of different runs almost
    never share a one-day window on the lathe.
    """
    built = build_causrca_batch(root, run_dirs, start, with_deviations, normal_root=normal_root,
                                known_runs=known_runs)
    return write_causrca_batch(store, schema, built, batch_size, progress)
