"""Root-cause and failure-mode evaluations on real data sets.

- causRCA: rank the variables of each fault run from its alarms by the causal graph walk in Neo4j,
  with and without the deviation events learnt from the normal recordings. Score the ranking
  against the manipulated variables of the scenario (Recall@1, Recall@3).
- AI4I 2020: predict the failure mode of each failed machine from its signals with the physical
  rules that generated the data set, and score the top mode against the failure flags.
- MWO2KG failure-mode classification: classify maintenance observation texts into failure modes
  (train on a training file such as train.txt, score on dev.txt, test.txt or any other
  `observation,failure mode` file) against the majority-class baseline.
"""

from __future__ import annotations

import csv
import filecmp
import logging
import math
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import pandas as pd
from pydantic import BaseModel

from kg_service.errors import InputDataError
from kg_service.evaluation.graph_changes import GraphChanges, GraphSnapshot
from kg_service.evaluation.metrics import Accuracy, ClassScores, MacroF1, RecallAtK
from kg_service.evaluation.text_classifier import CharNgramCentroidClassifier

logger = logging.getLogger(__name__)

CAUSRCA_START = datetime(2025, 1, 1)
RECALL_KS = (1, 3)
AI4I_MODES = ["TWF", "HDF", "PWF", "OSF", "RNF"]
# The rule-determined modes: the data set sets these flags from the signals alone, so the rules can
# find them; TWF is drawn at a random tool wear in 200-240 min and RNF at random.
AI4I_RULE_MODES = {"HDF", "PWF", "OSF"}
HDF_MAX_TEMPERATURE_DIFFERENCE_K = 8.6
HDF_MAX_SPEED_RPM = 1380
PWF_POWER_RANGE_W = (3500.0, 9000.0)
OSF_LIMIT_MIN_NM = {"L": 11000.0, "M": 12000.0, "H": 13000.0}
TWF_WEAR_RANGE_MIN = (200.0, 240.0)
AI4I_COLUMNS = ["Type", "Air temperature [K]", "Process temperature [K]", "Rotational speed [rpm]", "Torque [Nm]",
                "Tool wear [min]", "Machine failure", *AI4I_MODES]
# A file whose first line names any of these columns is an AI4I-style CSV, whatever its suffix.
AI4I_HEADER_COLUMNS = {"UDI", "Product ID", *AI4I_COLUMNS}
FMC_TRAIN_FILE = "train.txt"
FMC_SCORED_FILES = ("dev.txt", "test.txt")
# A first line with one of these labels names the columns of an `observation,failure mode` file.
FMC_HEADER_LABELS = {"failure mode", "failure_mode", "failuremode", "label"}


class RunRanking(BaseModel):
    """One causRCA fault run: its true causes and the variables ranked by each variant."""

    run: str
    true_causes: list[str]
    alarms: list[str]
    ranked: dict[str, list[str]]


class CausrcaEvaluation(BaseModel):
    """Recall@k per ranking variant over the fault runs, the best Recall@1 possible and every run's ranking.

    `causal_graph` is the folder whose `expert_graph/` was loaded, and `causal_graph_source` records
    why: "input" (the input or a data set folder above it), "option" (`--causal-graph`) or
    "default" (the shared causRCA data set). `normal_recordings` is the folder whose `real_op/`
    the deviations were learnt from, None when no folder had one.
    """

    data: str
    causal_graph: str
    causal_graph_source: str
    normal_recordings: str | None
    runs: int
    skipped_runs: list[str]
    skipped_files: list[str] = []
    """Files under the input that belong to no fault run, so the evaluation did not read them."""
    recall: dict[str, list[RecallAtK]]
    recall_at_1_bound: float
    rankings: list[RunRanking]
    graph_changes: GraphChanges | None = None
    """Counts of the records that the evaluation added to the configured graph and that its cleanup removed."""


class Ai4iEvaluation(BaseModel):
    """Top-mode accuracy of the rule predictor over failed machines, and per-mode scores."""

    data: str
    failed_machines: int
    machines_without_flag: int
    accuracy: Accuracy
    rule_mode_accuracy: Accuracy
    modes: list[ClassScores]


class TextClassificationEvaluation(BaseModel):
    """Accuracy and macro-F1 of the failure-mode classifier and of the majority-class baseline.

    `data` is the scored file and `scored_examples` its number of examples, whatever its name
    (`dev_examples` is the same number under its old name). `train_labels` and `scored_labels`
    count the distinct labels of each file, and `labels` those of both together.
    `unseen_labels` are the labels of the scored file that the training file lacks. The classifier
    cannot predict them, so each of their `unseen_label_examples` counts as an error.
    """

    data: str
    train_file: str
    train_examples: int
    scored_examples: int
    dev_examples: int
    train_labels: int
    scored_labels: int
    labels: int
    unseen_labels: list[str]
    unseen_label_examples: int
    accuracy: Accuracy
    macro_f1: MacroF1
    baseline_label: str
    baseline_accuracy: Accuracy
    baseline_macro_f1: MacroF1


class RootCauseEvaluation(BaseModel):
    """Every evaluation that the given data paths allow."""

    causrca: CausrcaEvaluation | None = None
    """The last causRCA input evaluated."""
    causrca_evaluations: list[CausrcaEvaluation] = []
    """Every causRCA input evaluated, in the order given."""
    ai4i: Ai4iEvaluation | None = None
    """The last AI4I-style file evaluated."""
    ai4i_evaluations: list[Ai4iEvaluation] = []
    """Every AI4I-style file evaluated, in the order given."""
    failure_mode_classification: TextClassificationEvaluation | None = None
    """The last scored failure-mode file: test.txt when one folder has dev.txt and test.txt."""
    failure_mode_classifications: list[TextClassificationEvaluation] = []
    """Every scored failure-mode file, in order."""


INPUT_HINT = ("pass a causRCA data set, group, scenario or run folder, an AI4I-style CSV, an "
              "`observation,failure mode` file, or a folder with train.txt and dev.txt or test.txt")


def detect_kind(path: Path) -> str:
    """Return which evaluation `path` is for: 'causrca', 'ai4i' or 'mwo2kg'; raise InputDataError otherwise.

    A file is classified by its content: a first line that names AI4I columns marks an AI4I-style
    CSV, and any other file is read as `observation,failure mode` lines.
    """
    from loaders.causrca import find_fault_runs

    if not path.exists():
        raise InputDataError("file or folder not found", path=str(path), hint=INPUT_HINT)
    if path.is_dir():
        if (path / "expert_graph").is_dir() or (path / "dig_twin").is_dir():
            return "causrca"
        if _failure_mode_folder(path) is not None:
            return "mwo2kg"
        if find_fault_runs(path):
            return "causrca"
        raise InputDataError("the folder contains no causRCA fault runs (run folders with causes.json) and no "
                             "failure-mode files (train.txt, dev.txt, test.txt)", path=str(path), hint=INPUT_HINT)
    return "ai4i" if _has_ai4i_header(path) else "mwo2kg"


class RootCauseInput(NamedTuple):
    """One `--data` input whose layout was checked: its kind and, for causRCA, the resolved folders."""

    path: Path
    kind: str
    causrca: CausrcaInputs | None = None


def check_root_cause_inputs(paths: list[Path], train: Path | None = None, causal_graph: Path | None = None,
                            data_dir: Path | None = None) -> list[RootCauseInput]:
    """Check every input before any is evaluated, so that a bad later input fails before earlier ones are scored.

    Each input must exist and have a recognised layout (`detect_kind`). A causRCA input must have
    fault runs and an expert graph, an AI4I-style CSV its columns, and a failure-mode input a
    training file and `observation,failure mode` lines in every file. Raises one InputDataError
    that names each bad input.
    """
    checked, problems = [], []
    for number, path in enumerate(paths, start=1):
        try:
            checked.append(_check_root_cause_input(path, train, causal_graph, data_dir))
        except InputDataError as error:
            # Most errors start with the input's path; those about --train or --causal-graph do not.
            named = "" if str(error).startswith(str(path)) else f" ({path})"
            problems.append(f"--data input {number}{named}: {error}")
    if problems:
        raise InputDataError(f"{len(problems)} of {len(paths)} --data inputs are invalid, so none was "
                             "evaluated. Fix or remove them and run again:\n  " + "\n  ".join(problems))
    return checked


def _check_root_cause_input(path: Path, train: Path | None, causal_graph: Path | None,
                            data_dir: Path | None) -> RootCauseInput:
    kind = detect_kind(path)
    if kind == "ai4i":
        check_ai4i_columns(path)
        return RootCauseInput(path, kind)
    if kind == "mwo2kg":
        train_file, scored = failure_mode_files(path, train, data_dir)
        for file in (train_file, *scored):
            read_labelled_texts(file)
        return RootCauseInput(path, kind)
    return RootCauseInput(path, kind, resolve_causrca_inputs(path, causal_graph, data_dir))


def _has_ai4i_header(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
            first_line = handle.readline()
    except OSError as error:
        raise InputDataError(f"failed to read the file: {error}", path=str(path),
                             hint="check that the file exists and is readable") from None
    columns = {column.strip() for column in next(csv.reader([first_line]), [])}
    return bool(columns & AI4I_HEADER_COLUMNS)


def _failure_mode_folder(path: Path) -> Path | None:
    """Return `path` or `path/fmc` when it contains train.txt, dev.txt or test.txt, else None."""
    for folder in (path, path / "fmc"):
        if any((folder / name).is_file() for name in (FMC_TRAIN_FILE, *FMC_SCORED_FILES)):
            return folder
    return None


# causRCA

class CausrcaInputs(BaseModel):
    """The fault runs of one causRCA input and the folders of the expert graph and normal recordings to use."""

    data: Path
    runs: list[Path]
    causal_graph: Path
    causal_graph_source: str
    normal_recordings: Path | None
    known_runs: list[str]
    unused_files: list[str] = []


def resolve_causrca_inputs(root: Path, causal_graph: Path | None = None,
                           data_dir: Path | None = None) -> CausrcaInputs:
    """Find the fault runs of a causRCA layout and the expert graph and normal recordings that go with them.

    `root` may be a data set folder, its `dig_twin/` folder, a group, scenario or run folder. The
    expert graph is the one of `causal_graph` when given, else the one in `root` or a data set
    folder above it, else the one of the shared data set `data_dir/causrca`. The normal recordings
    (`real_op/`) are looked up the same way, the input first. Runs of the shared data set keep
    their day slots (`known_runs`), so the same run gets the same times in any layout.
    """
    from loaders.causrca import find_data_set_folder, find_fault_runs, find_unused_files, run_key

    runs = find_fault_runs(root)
    if not runs:
        raise InputDataError("no causRCA fault runs (run folders with causes.json)", path=str(root),
                             hint="pass a data set folder with dig_twin/, a group folder exp_<group>/, a scenario "
                                  "folder exp_<n>/ with its exp_<n>_description.json, or a run folder")
    shared = data_dir / "causrca" if data_dir is not None else None
    if shared is not None and not (shared / "expert_graph").is_dir():
        shared = None

    if causal_graph is not None:
        graph_root = causal_graph.parent if (causal_graph / "all_nodes.csv").is_file() else causal_graph
        if not (graph_root / "expert_graph" / "all_nodes.csv").is_file():
            raise InputDataError("not a causRCA expert graph: expected expert_graph/all_nodes.csv in the folder",
                                 path=str(causal_graph),
                                 hint="pass --causal-graph with a causRCA data set folder or its expert_graph/ folder")
        source = "option"
    elif (found := find_data_set_folder(root, "expert_graph")) is not None:
        graph_root, source = found, "input"
    elif shared is not None:
        graph_root, source = shared, "default"
    else:
        shared_place = f"under {data_dir}" if data_dir is not None else "because no data folder is set"
        raise InputDataError("the input has no expert_graph/ and the shared causRCA data set was not found "
                             f"{shared_place}", path=str(root),
                             hint="pass --causal-graph with a causRCA folder that contains expert_graph/, or set "
                                  "KG_DATA_DIR to the folder that contains causrca/")

    normal = next((folder for folder in (find_data_set_folder(root, "real_op"), graph_root, shared)
                   if folder is not None and any((folder / "real_op").glob("*.csv"))), None)
    known_runs = [run_key(path) for path in find_fault_runs(shared if shared is not None else graph_root)]
    unused = find_unused_files(root, runs)
    if unused:
        logger.warning("causRCA: %d files under %s belong to no fault run and are skipped: %s", len(unused), root,
                       ", ".join(unused[:10]) + (", ..." if len(unused) > 10 else ""))
    return CausrcaInputs(data=root, runs=runs, causal_graph=graph_root, causal_graph_source=source,
                         normal_recordings=normal, known_runs=known_runs, unused_files=unused)


def evaluate_causrca(store, schema, root: Path, limit: int = 10, causal_graph: Path | None = None,
                     data_dir: Path | None = None, keep: bool = False,
                     inputs: CausrcaInputs | None = None) -> CausrcaEvaluation:
    """Load the causRCA graph and runs into Neo4j, rank each run's variables and score Recall@k.

    Writes (MERGE) the expert graph, the alarms and the deviation events of every fault run, with
    keys under the `causrca` source, into the graph of `store`. Unless `keep`, it then deletes the
    nodes and relationships that did not exist before and restores the properties of those that
    did, also when scoring fails. `graph_changes` of the result reports both. `causal_graph` and
    `data_dir` are passed to `resolve_causrca_inputs`, unless `inputs` holds its result for `root`
    already. Without normal recordings only the plain causal walk is scored.
    """
    from loaders.causrca import build_causrca_batch, write_causrca_batch

    if inputs is None:
        inputs = resolve_causrca_inputs(root, causal_graph, data_dir)
    with_deviations = inputs.normal_recordings is not None
    if not with_deviations:
        logger.warning("causRCA: no normal recordings (real_op/) in %s or the expert graph's folder; only the "
                       "causal walk without deviations is scored", root)
    built = build_causrca_batch(inputs.causal_graph, inputs.runs, CAUSRCA_START, with_deviations,
                                normal_root=inputs.normal_recordings, known_runs=inputs.known_runs)

    snapshot = GraphSnapshot.take(store, schema, built.batch)
    logger.info("causRCA: loading %d nodes and %d relationships into %s for the evaluation (%s afterwards)",
                len(built.batch.nodes), len(built.batch.relationships), snapshot.graph,
                "kept" if keep else "removed")
    failed = True
    try:
        write_causrca_batch(store, schema, built)
        result = _rank_causrca_runs(store, inputs, limit, with_deviations)
        failed = False
    finally:
        if keep:
            changes = snapshot.report_kept()
        else:
            if failed:
                logger.warning("causRCA: the evaluation failed or was interrupted; removing what it added to %s",
                               snapshot.graph)
            # Ctrl-C during the cleanup would leave part of the load behind for good, so it waits.
            with deferred_interrupts():
                changes = _undo_with_retry(snapshot, store)
    result.graph_changes = changes
    return result


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block has finished, then raise KeyboardInterrupt if one came.

    Outside the main thread, where Python cannot install signal handlers, and where Ctrl-C is
    ignored anyway, the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        logger.warning("Ctrl-C arrived during the cleanup, which finished first")
        raise KeyboardInterrupt


def _undo_with_retry(snapshot: GraphSnapshot, store) -> GraphChanges:
    """Run the cleanup, and once more when it fails.

    A retry helps because an interrupted write can leave a broken connection in the pool. The cleanup deletes only records that the load created and that still exist, so a second run is safe.
    """
    try:
        return snapshot.undo(store)
    except Exception as error:  # noqa: BLE001 - any failure gets one more try, then propagates
        logger.warning("cleanup of %s failed (%s); trying once more", snapshot.graph, error)
        return snapshot.undo(store)


def _rank_causrca_runs(store, inputs: CausrcaInputs, limit: int, with_deviations: bool) -> CausrcaEvaluation:
    """Rank each run's variables from its scenario alarms on the loaded graph and score Recall@k."""
    from kg_service.reasoning.rootcause import RootCauseQuery, rank_causes
    from loaders.causrca import alarm_key, read_fault_run

    variants = {"causal walk": False}
    if with_deviations:
        variants["causal walk + deviations"] = True
    rankings: list[RunRanking] = []
    skipped: list[str] = []
    for run_dir in inputs.runs:
        run = read_fault_run(run_dir)
        keys = [alarm_key(run, number) for number, alarm in enumerate(run.alarm_intervals(), start=1)
                if alarm.signal in run.scenario_alarms]
        alarms = [alarm.signal for alarm in run.alarm_intervals() if alarm.signal in run.scenario_alarms]
        if not keys:
            skipped.append(run.key)
            continue
        ranked = {}
        for name, use_anomalies in variants.items():
            result = rank_causes(store, RootCauseQuery(events=keys, limit=limit, use_anomalies=use_anomalies))
            ranked[name] = [entry.properties.get("name", entry.id) for entry in result.candidates
                            if "Signal" in entry.classes]
        rankings.append(RunRanking(run=run.key, true_causes=run.manipulated, alarms=sorted(set(alarms)), ranked=ranked))
    if skipped:
        logger.warning("causRCA: %d runs raised none of their scenario's alarms and were skipped: %s",
                       len(skipped), ", ".join(skipped))

    truths = [item.true_causes for item in rankings]
    recall = {name: [RecallAtK.compute([item.ranked[name] for item in rankings], truths, k) for k in RECALL_KS]
              for name in variants}
    # A run with n true causes can reach at most 1/n at k = 1, so this is the best Recall@1 possible.
    bound = sum(1 / len(set(truth)) for truth in truths if truth) / len(truths) if truths else 0.0
    return CausrcaEvaluation(data=str(inputs.data), causal_graph=str(inputs.causal_graph),
                             causal_graph_source=inputs.causal_graph_source,
                             normal_recordings=None if inputs.normal_recordings is None
                             else str(inputs.normal_recordings),
                             runs=len(rankings), skipped_runs=skipped, skipped_files=inputs.unused_files,
                             recall=recall, recall_at_1_bound=bound, rankings=rankings)


# AI4I 2020

def rank_ai4i_modes(machine_type: str, air_k: float, process_k: float, speed_rpm: float, torque_nm: float,
                    wear_min: float) -> list[str]:
    """Rank the failure modes whose physical rule the signals meet; RNF (random) when none does.

    HDF: process minus air temperature below 8.6 K at a speed below 1380 rpm. PWF: power
    (torque times angular speed) outside 3500-9000 W. OSF: tool wear times torque above
    11000 (type L), 12000 (M) or 13000 (H) min·Nm. TWF: tool wear within 200-240 min.
    """
    ranked = []
    if process_k - air_k < HDF_MAX_TEMPERATURE_DIFFERENCE_K and speed_rpm < HDF_MAX_SPEED_RPM:
        ranked.append("HDF")
    power = torque_nm * speed_rpm * 2 * math.pi / 60
    if not PWF_POWER_RANGE_W[0] <= power <= PWF_POWER_RANGE_W[1]:
        ranked.append("PWF")
    limit = OSF_LIMIT_MIN_NM.get(machine_type.strip().upper())
    if limit is not None and wear_min * torque_nm > limit:
        ranked.append("OSF")
    if TWF_WEAR_RANGE_MIN[0] <= wear_min <= TWF_WEAR_RANGE_MIN[1]:
        ranked.append("TWF")
    return ranked or ["RNF"]


def predict_ai4i(path: Path) -> pd.DataFrame:
    """Return the failed machines of an AI4I-style CSV with their flags and ranked predicted modes."""
    frame = _read_ai4i_csv(path)
    failed = frame[frame["Machine failure"] == 1].copy()
    failed["flags"] = [[mode for mode in AI4I_MODES if row[mode] == 1] for _, row in failed.iterrows()]
    failed["ranked"] = [rank_ai4i_modes(row["Type"], row["Air temperature [K]"], row["Process temperature [K]"],
                                        row["Rotational speed [rpm]"], row["Torque [Nm]"], row["Tool wear [min]"])
                        for _, row in failed.iterrows()]
    failed["predicted"] = [ranked[0] for ranked in failed["ranked"]]
    return failed


def check_ai4i_columns(path: Path) -> None:
    """Raise InputDataError unless the header of the CSV at `path` names every AI4I column."""
    _read_ai4i_csv(path, rows=0)


def _read_ai4i_csv(path: Path, rows: int | None = None) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, encoding="utf-8-sig", nrows=rows)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise InputDataError(f"cannot read the CSV: {error}", path=str(path)) from None
    missing = [column for column in AI4I_COLUMNS if column not in frame.columns]
    if missing:
        raise InputDataError(f"missing AI4I columns {missing}", path=str(path),
                             hint="pass the AI4I 2020 predictive maintenance CSV or one with the same columns")
    return frame


def _expected_modes(machines: pd.DataFrame) -> list[str]:
    """Return the flag that each prediction is scored against: the predicted mode when it is flagged.

    A machine with several flags so counts as correct when its top mode is any of them.
    """
    return [predicted if predicted in flags else flags[0]
            for predicted, flags in zip(machines["predicted"], machines["flags"])]


def evaluate_ai4i(path: Path) -> Ai4iEvaluation:
    """Score the top predicted mode of each failed machine against its failure flags."""
    failed = predict_ai4i(path)
    flagged = failed[failed["flags"].map(bool)]
    accuracy = Accuracy.compute(list(flagged["predicted"]), _expected_modes(flagged))
    rule = flagged[flagged["flags"].map(lambda flags: bool(set(flags) & AI4I_RULE_MODES))]
    rule_accuracy = Accuracy.compute(list(rule["predicted"]), _expected_modes(rule))

    modes = []
    for mode in AI4I_MODES:
        support = int(sum(mode in flags for flags in flagged["flags"]))
        predicted_count = int(sum(predicted == mode for predicted in flagged["predicted"]))
        hit = int(sum(predicted == mode and mode in flags
                      for predicted, flags in zip(flagged["predicted"], flagged["flags"])))
        precision = hit / predicted_count if predicted_count else 0.0
        recall = hit / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        modes.append(ClassScores(label=mode, precision=precision, recall=recall, f1=f1, support=support))
    return Ai4iEvaluation(data=str(path), failed_machines=len(failed), machines_without_flag=len(failed) - len(flagged),
                          accuracy=accuracy, rule_mode_accuracy=rule_accuracy, modes=modes)


# MWO2KG failure-mode classification

def read_labelled_texts(path: Path) -> tuple[list[str], list[str]]:
    """Read `observation,failure mode` lines; the label is after the last comma.

    A line with double quotes is read as one CSV row, so a quoted observation may contain commas.
    A first line whose label is a column name such as "failure mode" or "label" is skipped. Raises
    InputDataError at the first non-empty line without a comma or with nothing on one side of it.
    """
    if not path.is_file():
        raise InputDataError("file not found", path=str(path))
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as error:
        raise InputDataError(f"not UTF-8 text ({error})", path=str(path),
                             hint="pass an `observation,failure mode` text file in UTF-8") from None
    texts, labels = [], []
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        text, label = _split_labelled_line(line)
        if not text or not label:
            excerpt = line if len(line) <= 60 else line[:57] + "..."
            raise InputDataError(f"expected 'observation,failure mode' with text on both sides of the last comma, "
                                 f"got {excerpt!r}", path=str(path), line=line_number,
                                 hint="write one example per line as `observation,failure mode` (quote an "
                                      "observation that contains commas), or remove the line")
        if not texts and label.lower() in FMC_HEADER_LABELS:
            logger.info("%s: line %d names the columns (%r) and is skipped", path, line_number, line)
            continue
        texts.append(text)
        labels.append(label)
    if not texts:
        raise InputDataError("no labelled lines", path=str(path),
                             hint="pass a file with one `observation,failure mode` example per line")
    return texts, labels


def _split_labelled_line(line: str) -> tuple[str, str]:
    if '"' in line:
        fields = next(csv.reader([line]), [])
        if len(fields) >= 2 and fields[-1].strip():
            return ",".join(fields[:-1]).strip(), fields[-1].strip()
    text, _, label = line.rpartition(",")
    return text.strip(), label.strip()


def failure_mode_files(path: Path, train: Path | None = None,
                       data_dir: Path | None = None) -> tuple[Path, list[Path]]:
    """Return the training file and the files to score for a failure-mode input.

    `path` is an `observation,failure mode` file of any name, or a folder (or its `fmc/`) with
    train.txt and dev.txt and/or test.txt. The training file is `train` (a file, or a folder with
    train.txt or fmc/train.txt), else train.txt beside the scored files, else the shared MWO2KG
    training split `data_dir/mwo2kg/fmc/train.txt`. Raises InputDataError when no training file
    is found or when it is a scored file.
    """
    if path.is_dir():
        folder = _failure_mode_folder(path)
        if folder is None:
            raise InputDataError("no failure-mode files (train.txt with dev.txt or test.txt)", path=str(path),
                                 hint=INPUT_HINT)
        scored = [folder / name for name in FMC_SCORED_FILES if (folder / name).is_file()]
        if not scored:
            raise InputDataError(f"no file to score: expected {' or '.join(FMC_SCORED_FILES)} beside "
                                 f"{FMC_TRAIN_FILE}", path=str(folder),
                                 hint="pass the file to score itself, or add dev.txt or test.txt to the folder")
    else:
        folder, scored = path.parent, [path]

    if train is not None:
        train_file = _training_file_option(train)
    elif (folder / FMC_TRAIN_FILE).is_file() and not (folder / FMC_TRAIN_FILE).samefile(scored[0]):
        train_file = folder / FMC_TRAIN_FILE
    elif data_dir is not None and (data_dir / "mwo2kg" / "fmc" / FMC_TRAIN_FILE).is_file():
        train_file = data_dir / "mwo2kg" / "fmc" / FMC_TRAIN_FILE
    else:
        shared_place = f"under {data_dir}" if data_dir is not None else "(no data folder is set)"
        raise InputDataError(f"no training file: no {FMC_TRAIN_FILE} beside the scored file and no shared MWO2KG "
                             f"split {shared_place}", path=str(path),
                             hint="pass --train with an `observation,failure mode` training file, or set "
                                  "KG_DATA_DIR to the folder that contains mwo2kg/fmc/train.txt")
    for file in scored:
        if file.samefile(train_file) or filecmp.cmp(file, train_file, shallow=False):
            raise InputDataError(f"the file to score is the training file {train_file} (or a copy of it), so the "
                                 "scores would not measure anything", path=str(file),
                                 hint="pass --train with another training file, or score another file")
    return train_file, scored


def _training_file_option(train: Path) -> Path:
    if train.is_file():
        return train
    for candidate in (train / FMC_TRAIN_FILE, train / "fmc" / FMC_TRAIN_FILE):
        if candidate.is_file():
            return candidate
    raise InputDataError(f"--train: no training file (expected a file, or a folder with {FMC_TRAIN_FILE} or "
                         f"fmc/{FMC_TRAIN_FILE})", path=str(train),
                         hint="pass --train with an `observation,failure mode` training file")


def score_failure_mode_classifier(train_file: Path, scored_file: Path) -> TextClassificationEvaluation:
    """Train the character n-gram classifier on `train_file` and score it on `scored_file`."""
    train_texts, train_labels = read_labelled_texts(train_file)
    dev_texts, dev_labels = read_labelled_texts(scored_file)
    predicted = CharNgramCentroidClassifier().fit(train_texts, train_labels).predict(dev_texts)
    majority = Counter(train_labels).most_common(1)[0][0]
    baseline = [majority] * len(dev_labels)
    unseen = sorted(set(dev_labels) - set(train_labels))
    if unseen:
        logger.warning("%s: %d labels that %s lacks count as errors: %s", scored_file, len(unseen), train_file,
                       ", ".join(unseen))
    return TextClassificationEvaluation(
        data=str(scored_file), train_file=str(train_file), train_examples=len(train_texts),
        scored_examples=len(dev_texts), dev_examples=len(dev_texts), train_labels=len(set(train_labels)),
        scored_labels=len(set(dev_labels)), labels=len(set(train_labels) | set(dev_labels)), unseen_labels=unseen,
        unseen_label_examples=sum(label in unseen for label in dev_labels),
        accuracy=Accuracy.compute(predicted, dev_labels), macro_f1=MacroF1.compute(predicted, dev_labels),
        baseline_label=majority, baseline_accuracy=Accuracy.compute(baseline, dev_labels),
        baseline_macro_f1=MacroF1.compute(baseline, dev_labels))


def evaluate_failure_mode_classifier(path: Path, train: Path | None = None,
                                     data_dir: Path | None = None) -> list[TextClassificationEvaluation]:
    """Score the failure-mode classifier on each file that `failure_mode_files` finds for `path`."""
    train_file, scored = failure_mode_files(path, train, data_dir)
    return [score_failure_mode_classifier(train_file, file) for file in scored]
