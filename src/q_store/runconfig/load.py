"""Reading and checking run-configuration files (TOML or YAML) against the schema.

Every problem is a :class:`~q_store.errors.ConfigFileError` naming the file, the key
(``section.key``, ``layers[2].type``) and what is allowed; errors raised by
``TrainingConfig`` are re-raised that way too. A checked file becomes a :class:`RunConfig`,
whose :meth:`~RunConfig.document` (defaults filled in, paths absolute, no secrets) is what the
run store keeps and what ``--resume`` rebuilds the run from.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from q_store.errors import ConfigError, ConfigFileError, NotSupportedError
from q_store.ml.config import TrainingConfig
from q_store.runconfig.schema import (
    BACKEND_KEYS,
    MANAGED_TRAINING_KEYS,
    SECTIONS,
    Section,
    training_keys,
)

__all__ = ["RunConfig", "load_document", "load_run_config", "read_file"]

_SUFFIXES = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml"}


@dataclass
class RunConfig:
    """A checked run configuration: one dict per section (defaults filled in), ``layers`` a
    list of dicts (empty: the default layer), ``training`` only the options the file set."""

    source: str
    base_dir: Path
    sections: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, section: str) -> Any:
        return self.sections[section]

    @property
    def name(self) -> str:
        return self.sections["run"]["name"]

    def document(self) -> dict[str, Any]:
        """Plain data (JSON/TOML-ready) that :func:`load_document` reads back."""
        return copy.deepcopy(self.sections)

    def training_config(self, **managed: Any) -> TrainingConfig:
        """The ``TrainingConfig`` of ``[training]`` and ``[backend]`` (the API key read from
        ``backend.api_key_env``), plus options q-store train sets itself (``managed``)."""
        options = dict(self.sections["training"])
        backend = self.sections["backend"]
        origin = {k: f"training.{k}" for k in options}
        for short, name in BACKEND_KEYS.items():
            if short in _explicit(backend):
                options[name] = backend[short]
                origin[name] = f"backend.{short}"
        env = backend.get("api_key_env")
        if env is not None:
            if not os.environ.get(env):
                raise ConfigFileError(self.source, "backend.api_key_env",
                                      f"the environment variable {env!r} is not set")
            options["quantum_api_key"] = os.environ[env]
        options.update(managed)
        return _training_config(self.source, options, origin)


def _training_config(source: str, options: dict[str, Any], origin: dict[str, str]
                     ) -> TrainingConfig:
    try:
        return TrainingConfig(**options)
    except (ConfigError, NotSupportedError) as exc:
        raise ConfigFileError(source, _blame(str(exc), options, origin), str(exc)) from None


def _blame(message: str, options: dict[str, Any], origin: dict[str, str]) -> str | None:
    """The file key a TrainingConfig error is about: the option its message names first."""
    found = [(m.start(), name) for name in options if name in origin
             for m in [re.search(rf"\b{re.escape(name)}\b", message)] if m]
    if found:
        return origin[min(found)[1]]
    return None


# -- reading --------------------------------------------------------------------------------------

def read_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed document of a ``.toml``, ``.yaml`` or ``.yml`` file."""
    p = Path(path)
    kind = _SUFFIXES.get(p.suffix.lower())
    if kind is None:
        raise ConfigFileError(p, None, f"unknown file type {p.suffix!r}; a run configuration "
                                       "is .toml, .yaml or .yml")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigFileError(p, None, f"cannot read it: {exc.strerror or exc}") from None
    if kind == "toml":
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            import tomli as tomllib
        try:
            doc = tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigFileError(p, None, f"not valid TOML: {exc}") from None
    else:
        try:
            import yaml
        except ImportError:  # pragma: no cover - pyyaml is a dependency
            raise ConfigFileError(p, None, "YAML files need PyYAML: pip install pyyaml"
                                  ) from None
        try:
            doc = yaml.safe_load(raw.decode("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigFileError(p, None, f"not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigFileError(p, None, "the file must hold a table of sections ([dataset], "
                                       f"[training], ...), got {type(doc).__name__}")
    return doc


def load_run_config(path: str | os.PathLike[str]) -> RunConfig:
    """Read and check a run-configuration file."""
    p = Path(path)
    doc = read_file(p)
    return load_document(doc, source=str(p), base_dir=p.resolve().parent, default_name=p.stem)


def load_document(doc: dict[str, Any], *, source: str, base_dir: str | os.PathLike[str] = ".",
                  default_name: str = "run") -> RunConfig:
    """Check a parsed document (a file's, or one stored with a run)."""
    allowed = [*SECTIONS, "training"]
    for name in doc:
        if name not in allowed:
            raise ConfigFileError(source, str(name), f"unknown section{_hint(name, allowed)}; "
                                  f"allowed: {', '.join(allowed)}")
    sections: dict[str, Any] = {}
    for name, section in SECTIONS.items():
        value = doc.get(name, [] if section.array else {})
        if section.array:
            if not isinstance(value, list):
                raise ConfigFileError(source, name, "must be a list of tables ([[layers]] in "
                                      "TOML, a list of mappings in YAML)")
            sections[name] = [_check_table(source, f"{name}[{i}]", section, item)
                              for i, item in enumerate(value)]
        else:
            sections[name] = _check_table(source, name, section, value)
    sections["training"] = _check_training(source, doc.get("training", {}))
    if sections["run"]["name"] is None:
        sections["run"]["name"] = default_name
    _check_combinations(source, sections)
    config = RunConfig(source, Path(base_dir), sections)
    config.training_config()  # every TrainingConfig error now, naming file and key
    return config


def _check_table(source: str, where: str, section: Section, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigFileError(source, where, f"must be a table of keys, got {value!r:.60}")
    names = [k.name for k in section.keys]
    out: dict[str, Any] = {}
    for key, v in value.items():
        spec = section.key(key)
        if spec is None:
            if section.extra is None:
                raise ConfigFileError(source, f"{where}.{key}", f"unknown key"
                                      f"{_hint(key, names)}; allowed: {', '.join(names)}")
            out[key] = v  # passed on (loader / encoder options), checked by their owner
            continue
        if not spec.check(v):
            raise ConfigFileError(source, f"{where}.{key}", f"must be {spec.allowed}, got "
                                  f"{v!r:.60}")
        out[key] = v
    for spec in section.keys:
        if spec.name not in out:
            if spec.required:
                raise ConfigFileError(source, f"{where}.{spec.name}",
                                      f"is required ({spec.allowed})")
            out[spec.name] = copy.deepcopy(spec.default)
    return out


def _check_training(source: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigFileError(source, "training", "must be a table of TrainingConfig options")
    names = list(training_keys())
    for key in value:
        if key in MANAGED_TRAINING_KEYS:
            raise ConfigFileError(source, f"training.{key}", "is not allowed here: "
                                  + MANAGED_TRAINING_KEYS[key])
        if key not in names:
            raise ConfigFileError(source, f"training.{key}", "unknown TrainingConfig option"
                                  f"{_hint(key, names)}; see q-store train --schema for all "
                                  "of them")
    if value.get("enable_performance_tracking") is False:
        raise ConfigFileError(source, "training.enable_performance_tracking",
                              "must be true: q-store train records the run from the "
                              "performance tracker's events")
    return dict(value)


def _check_combinations(source: str, s: dict[str, Any]) -> None:
    for short, name in BACKEND_KEYS.items():
        if short in _explicit(s["backend"]) and name in s["training"]:
            raise ConfigFileError(source, f"training.{name}", f"is also set as backend.{short};"
                                  " set it in one place")
    split = s["split"]
    if split["test_fraction"] + split["validation_fraction"] >= 1:
        raise ConfigFileError(source, "split.validation_fraction",
                              "validation_fraction + test_fraction must be below 1 (the rest "
                              "is the training split)")
    base = s["backend"].get("base_url")
    if isinstance(base, str) and "@" in base.split("/")[2 if "://" in base else 0]:
        raise ConfigFileError(source, "backend.base_url", "must not contain credentials; set "
                                                          "backend.api_key_env instead")


def _explicit(backend: dict[str, Any]) -> set[str]:
    """[backend] keys whose value differs from the schema default (set by the file)."""
    section = SECTIONS["backend"]
    return {k.name for k in section.keys if backend.get(k.name) != k.default}


def _hint(name: object, allowed: list[str]) -> str:
    close = difflib.get_close_matches(str(name), allowed, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
