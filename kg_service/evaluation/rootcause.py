"""Root-cause and failure-mode evaluations on real data sets.

- causRCA: rank the variables of each fault run from its alarms by the causal graph walk in Neo4j,
  with and without the deviation events learnt from the normal recordings. Score the ranking
  against the manipulated variables of the scenario (Recall@1, Recall@3).
- AI4I 2020: predict the failure mode of each failed machine from its signals with the physical
  rules that generated the data set, and score the top mode against the failure flags.
- MWO2KG failure-mode classification: classify maintenance observation texts into failure modes
  (train on train.txt, score on dev.txt) against the majority-class baseline.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from datetime import datetime
from pathlib import Path

import pandas as pd
from pydantic import BaseModel

from kg_service.errors import InputDataError
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


class RunRanking(BaseModel):
    """One causRCA fault run: its true causes and the variables ranked by each variant."""

    run: str
    true_causes: list[str]
    alarms: list[str]
    ranked: dict[str, list[str]]


class CausrcaEvaluation(BaseModel):
    """Recall@k per ranking variant over the fault runs, the best Recall@1 possible and every run's ranking."""

    data: str
    runs: int
    skipped_runs: list[str]
    recall: dict[str, list[RecallAtK]]
    recall_at_1_bound: float
    rankings: list[RunRanking]


class Ai4iEvaluation(BaseModel):
    """Top-mode accuracy of the rule predictor over failed machines, and per-mode scores."""

    data: str
    failed_machines: int
    machines_without_flag: int
    accuracy: Accuracy
    rule_mode_accuracy: Accuracy
    modes: list[ClassScores]


class TextClassificationEvaluation(BaseModel):
    """Accuracy and macro-F1 of the failure-mode classifier and of the majority-class baseline."""

    data: str
    train_examples: int
    dev_examples: int
    labels: int
    accuracy: Accuracy
    macro_f1: MacroF1
    baseline_label: str
    baseline_accuracy: Accuracy
    baseline_macro_f1: MacroF1


class RootCauseEvaluation(BaseModel):
    """Every evaluation that the given data paths allow."""

    causrca: CausrcaEvaluation | None = None
    ai4i: Ai4iEvaluation | None = None
    failure_mode_classification: TextClassificationEvaluation | None = None


def detect_kind(path: Path) -> str:
    """Return which evaluation `path` is for: 'causrca', 'ai4i' or 'mwo2kg'; raise InputDataError otherwise."""
    if path.is_dir() and (path / "expert_graph").is_dir():
        return "causrca"
    if path.is_dir() and (path / "train.txt").is_file() and (path / "dev.txt").is_file():
        return "mwo2kg"
    if path.is_dir() and (path / "fmc" / "train.txt").is_file():
        return "mwo2kg"
    if path.is_file() and path.suffix.lower() == ".csv":
        return "ai4i"
    raise InputDataError("not a causRCA folder (with expert_graph/), an AI4I-style CSV or a folder with the "
                         "failure-mode classification files train.txt and dev.txt", path=str(path))


# causRCA

def evaluate_causrca(store, schema, root: Path, limit: int = 10) -> CausrcaEvaluation:
    """Load the causRCA graph and runs into Neo4j, rank each run's variables and score Recall@k.

    Writes (MERGE) the expert graph, the alarms and the deviation events of every fault run, with
    keys under the `causrca` source, into the graph of `store`.
    """
    from kg_service.reasoning.rootcause import RootCauseQuery, rank_causes
    from loaders.causrca import alarm_key, find_fault_runs, load_causrca, read_fault_run

    run_dirs = find_fault_runs(root)
    if not run_dirs:
        raise InputDataError("no fault runs (dig_twin/exp_*/exp_*/run_*/causes.json)", path=str(root))
    load_causrca(store, schema, root, run_dirs, CAUSRCA_START)

    variants = {"causal walk": False, "causal walk + deviations": True}
    rankings: list[RunRanking] = []
    skipped: list[str] = []
    for run_dir in run_dirs:
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
    return CausrcaEvaluation(data=str(root), runs=len(rankings), skipped_runs=skipped, recall=recall,
                             recall_at_1_bound=bound, rankings=rankings)


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
    try:
        frame = pd.read_csv(path, encoding="utf-8-sig")
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise InputDataError(f"cannot read the CSV: {error}", path=str(path)) from None
    missing = [column for column in AI4I_COLUMNS if column not in frame.columns]
    if missing:
        raise InputDataError(f"missing AI4I columns {missing}", path=str(path),
                             hint="pass the AI4I 2020 predictive maintenance CSV or one with the same columns")
    failed = frame[frame["Machine failure"] == 1].copy()
    failed["flags"] = [[mode for mode in AI4I_MODES if row[mode] == 1] for _, row in failed.iterrows()]
    failed["ranked"] = [rank_ai4i_modes(row["Type"], row["Air temperature [K]"], row["Process temperature [K]"],
                                        row["Rotational speed [rpm]"], row["Torque [Nm]"], row["Tool wear [min]"])
                        for _, row in failed.iterrows()]
    failed["predicted"] = [ranked[0] for ranked in failed["ranked"]]
    return failed


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
    """Read `observation,failure mode` lines; the label is after the last comma."""
    if not path.is_file():
        raise InputDataError("file not found", path=str(path))
    texts, labels = [], []
    for line_number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        text, separator, label = line.rpartition(",")
        if not separator or not label.strip():
            raise InputDataError("expected 'observation,failure mode'", path=str(path), line=line_number)
        texts.append(text.strip())
        labels.append(label.strip())
    if not texts:
        raise InputDataError("no labelled lines", path=str(path))
    return texts, labels


def evaluate_failure_mode_classifier(folder: Path) -> TextClassificationEvaluation:
    """Train the character n-gram classifier on train.txt and score it on dev.txt."""
    if (folder / "fmc").is_dir():
        folder = folder / "fmc"
    train_texts, train_labels = read_labelled_texts(folder / "train.txt")
    dev_texts, dev_labels = read_labelled_texts(folder / "dev.txt")
    predicted = CharNgramCentroidClassifier().fit(train_texts, train_labels).predict(dev_texts)
    majority = Counter(train_labels).most_common(1)[0][0]
    baseline = [majority] * len(dev_labels)
    return TextClassificationEvaluation(
        data=str(folder), train_examples=len(train_texts), dev_examples=len(dev_texts),
        labels=len(set(train_labels) | set(dev_labels)), accuracy=Accuracy.compute(predicted, dev_labels),
        macro_f1=MacroF1.compute(predicted, dev_labels), baseline_label=majority,
        baseline_accuracy=Accuracy.compute(baseline, dev_labels),
        baseline_macro_f1=MacroF1.compute(baseline, dev_labels))
