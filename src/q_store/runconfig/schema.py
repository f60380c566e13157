"""The schema of a run-configuration file (``q-store train CONFIG``), as data.

Every section and key is declared here once, with its default, what is allowed and a line of
documentation; :mod:`q_store.runconfig.load` checks files against it and
:func:`render_markdown` writes the reference (docs/train-config.md is generated from it, and a
test keeps the two in step). ``[training]`` is every :class:`~q_store.ml.TrainingConfig`
option, under its own name, checked by ``TrainingConfig`` itself.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from q_store.ml.config import SECRET_FIELDS, TrainingConfig
from q_store.ml.encoders import METHODS

__all__ = ["BACKEND_KEYS", "LAYER_TYPES", "MANAGED_TRAINING_KEYS", "SECTIONS", "Key",
           "Section", "render_markdown", "training_keys"]

Check = Callable[[Any], bool]


@dataclass(frozen=True)
class Key:
    """One key: ``check(value)`` says whether ``value`` is allowed, ``allowed`` says what is."""

    name: str
    default: Any
    check: Check
    allowed: str
    doc: str
    required: bool = False


@dataclass(frozen=True)
class Section:
    name: str
    doc: str
    keys: tuple[Key, ...]
    extra: str | None = None  # what other keys mean (passed on), or None: no other keys
    array: bool = False  # [[name]]: a list of tables

    def key(self, name: str) -> Key | None:
        return next((k for k in self.keys if k.name == name), None)


def _int(lo: int) -> Check:
    return lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= lo


def _fraction(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and 0.0 <= v < 1.0


def _positive(v: Any) -> bool:
    return (isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
            and v > 0)


def _choice(*allowed: str) -> Check:
    return lambda v: isinstance(v, str) and v in allowed


def _string(v: Any) -> bool:
    return isinstance(v, str) and v != ""


def _optional(check: Check) -> Check:
    return lambda v: v is None or check(v)


def _bool(v: Any) -> bool:
    return isinstance(v, bool)


def _pca(v: Any) -> bool:
    return v is False or v == "auto" or _int(1)(v)


def _range(v: Any) -> bool:
    return (isinstance(v, list | tuple) and len(v) == 2
            and all(isinstance(x, numbers.Real) and not isinstance(x, bool)
                    and math.isfinite(x) for x in v) and v[0] < v[1])


def _task(v: Any) -> bool:
    return v in ("auto", "classification", "regression")


def _output_dim(v: Any) -> bool:
    return v == "auto" or _int(1)(v)


LAYER_TYPES = ("quantum", "hardware_efficient", "convolution", "pooling")
# [backend] key -> the TrainingConfig option it sets
BACKEND_KEYS = {"sdk": "quantum_sdk", "target": "quantum_target", "shots": "shots",
                "noise_model": "ionq_noise_model", "base_url": "ionq_base_url"}
# TrainingConfig options that q-store train sets itself (the reason is the error message)
MANAGED_TRAINING_KEYS = {
    "checkpoint_dir": "q-store train keeps checkpoints in the run's directory "
                      "(<store>/runs/<run id>/checkpoints)",
    **{name: "secrets are never read from configuration files; set backend.api_key_env to "
             "the name of the environment variable that holds the key (IonQ: IONQ_API_KEY "
             "is read by default)" for name in SECRET_FIELDS},
    "backend_configs": "it holds backend credentials; it is not read from configuration "
                       "files",
}

SECTIONS: dict[str, Section] = {s.name: s for s in (
    Section("run", "Where the run is recorded and what it is called.", (
        Key("name", None, _optional(_string), "a non-empty string",
            "the run's name (default: the config file's name without extension)"),
        Key("store", "qstore-runs", _string, "a directory path",
            "the run store directory, relative to the working directory (--store and "
            "QSTORE_DIR override it)"),
        Key("tracking", "none", _choice("none", "mlflow"), "'none' or 'mlflow'",
            "also log parameters and metrics to MLflow (needs the mlflow extra)"),
        Key("mlflow_tracking_uri", None, _optional(_string), "a URI",
            "the MLflow tracking server (default: MLflow's own, e.g. MLFLOW_TRACKING_URI)"),
        Key("mlflow_experiment", "q-store", _string, "a non-empty string",
            "the MLflow experiment the run is logged under"),
    )),
    Section("dataset", "The data: a registered data set and its loader's options.", (
        Key("name", None, _string, "a registered data set (see q-store train --datasets)",
            "digits, iris, breast_cancer, wine, moons, circles (scikit-learn), npz, csv, or "
            "one registered by a plug-in", required=True),
    ), extra="the loader's options, e.g. path (npz, csv; relative to the config file), "
             "n_samples, noise, random_state (moons, circles), x_key, y_key (npz), "
             "label_column, delimiter, skip_header (csv)"),
    Section("split", "How the data are split (stratified by class for classification).", (
        Key("test_fraction", 0.25, _fraction, "a number in [0, 1)",
            "held out for the final test (q-store evaluate RUN --data test)"),
        Key("validation_fraction", 0.0, _fraction, "a number in [0, 1)",
            "held out for validation after every epoch (val_loss, val_accuracy)"),
        Key("stratify", True, _bool, "true or false",
            "keep class proportions in every split (classification only)"),
        Key("seed", None, _optional(_int(0)), "an integer >= 0",
            "the split's seed (default: training.seed, else 0)"),
    )),
    Section("preprocessing", "Fitted on the training split only, then applied to every split: "
                             "principal components first, then scaling.", (
        Key("scale", "standard", _choice("none", "standard", "minmax"),
            "'none', 'standard' or 'minmax'",
            "standard: zero mean, unit variance per feature; minmax: onto minmax_range"),
        Key("minmax_range", [0.0, math.pi], _range, "two finite numbers [low, high], low < high",
            "the range of scale = 'minmax' (default [0, pi]: one half-turn of an angle "
            "encoding)"),
        Key("pca", "auto", _pca, "false, 'auto' or a positive integer",
            "principal components kept; 'auto': as many as the encoder takes on the qubit "
            "budget (n_qubits for angle-type encodings, 2**n_qubits for amplitude), only when "
            "there are more features"),
    )),
    Section("encoder", "How features enter the circuit (q_store.ml.encoders).", (
        Key("method", "angle", _choice(*METHODS), f"one of {', '.join(METHODS)}",
            "the encoding; amplitude encoding puts 2**n features on n qubits"),
    ), extra="the encoder's options, e.g. rotation, scaling (angle), reps, entanglement (zz)"),
    Section("model", "The QuantumModel's readout and initialisation (its qubits, depth and "
                     "entanglement are training.n_qubits, circuit_depth, entanglement, "
                     "hardware_efficient_ansatz).", (
        Key("task", "auto", _task, "'auto', 'classification' or 'regression'",
            "auto: classification for integer labels, regression otherwise"),
        Key("output_dim", "auto", _output_dim, "'auto' or a positive integer",
            "classes (classification) or outputs (regression); auto: from the labels"),
        Key("init_scale", math.pi / 2, _positive, "a positive number",
            "initial weights are uniform in [-init_scale, init_scale]"),
    )),
    Section("layers", "Optional: the trainable layers in order, one [[layers]] table each "
                      "(default: one layer as training.circuit_depth and "
                      "hardware_efficient_ansatz say).", (
        Key("type", None, _choice(*LAYER_TYPES), f"one of {', '.join(LAYER_TYPES)}",
            "quantum: RX, RY, RZ per qubit; hardware_efficient: RY, RZ; convolution and "
            "pooling: QCNN blocks (pooling halves the qubits)", required=True),
        Key("depth", None, _optional(_int(1)), "an integer >= 1",
            "repetitions (quantum, hardware_efficient; default training.circuit_depth)"),
        Key("entanglement", None, _optional(_choice("linear", "circular", "full")),
            "'linear', 'circular' or 'full'", "CNOT pattern (default training.entanglement)"),
        Key("rotations", None, _optional(lambda v: isinstance(v, list) and all(
            x in ("RX", "RY", "RZ") for x in v) and len(v) > 0),
            "a list of 'RX', 'RY', 'RZ'", "rotation gates of a quantum layer"),
    ), array=True),
    Section("backend", "Where circuits run (short names for TrainingConfig options).", (
        Key("sdk", "mock", _string, "mock, qiskit, cirq, ionq, mock_noisy or "
            "mock_noisy_trajectories", "sets quantum_sdk"),
        Key("target", "simulator", _string, "'simulator' or 'qpu' (IonQ)",
            "sets quantum_target"),
        Key("shots", None, _optional(_int(1)), "an integer >= 1",
            "sets shots (default: exact expectation values where the backend allows)"),
        Key("noise_model", "ideal", _string, "ideal, aria-1 or forte-1",
            "sets ionq_noise_model"),
        Key("base_url", None, _optional(_string), "an http(s) URL",
            "sets ionq_base_url (e.g. http://127.0.0.1:8000 for q-store ionq-emulator)"),
        Key("api_key_env", None, _optional(_string), "an environment variable name",
            "the variable holding the API key (IonQ's client reads IONQ_API_KEY by default)"),
    )),
)}


def training_keys() -> dict[str, Any]:
    """``{option: default}`` of the TrainingConfig options a file may set."""
    return {f.name: (f.default if f.default is not dataclasses.MISSING else None)
            for f in dataclasses.fields(TrainingConfig) if f.name not in MANAGED_TRAINING_KEYS}


def render_markdown() -> str:
    """The reference of the file format, generated from :data:`SECTIONS`."""
    lines = ["# `q-store train` configuration reference", "",
             "Generated from `q_store.runconfig.schema` (`q-store train --schema` prints it).",
             "A file is TOML (`.toml`) or YAML (`.yaml`, `.yml`) with the sections below; only "
             "`[dataset] name` is required. Unknown sections and keys are errors that name the "
             "file, the key and what is allowed.", ""]
    for section in SECTIONS.values():
        head = f"[[{section.name}]]" if section.array else f"[{section.name}]"
        lines += [f"## `{head}`", "", section.doc, "", "| key | default | allowed | meaning |",
                  "| --- | --- | --- | --- |"]
        for k in section.keys:
            default = "required" if k.required else _show(k.default)
            lines.append(f"| `{k.name}` | {default} | {k.allowed} | {k.doc} |")
        if section.extra:
            lines += ["", f"Other keys: {section.extra}."]
        lines.append("")
    lines += ["## `[training]`", "",
              "Every `TrainingConfig` option under its own name, checked by `TrainingConfig` "
              "(errors name the file and the key). Not allowed here: "
              + "; ".join(f"`{k}` ({why})" for k, why in MANAGED_TRAINING_KEYS.items()) + ".",
              "", "| key | default |", "| --- | --- |"]
    lines += [f"| `{name}` | {_show(default)} |" for name, default in training_keys().items()]
    lines.append("")
    return "\n".join(lines)


def _show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value == math.pi / 2:
        return "pi/2"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list):
        return "`[" + ", ".join("pi" if x == math.pi else repr(x) for x in value) + "]`"
    return f'`"{value}"`' if isinstance(value, str) else f"`{value}`"
