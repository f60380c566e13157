"""One error hierarchy for the whole package.

Every error a user can trigger derives from :class:`QStoreError`. Errors caused by bad input
also derive from :class:`ValueError`, so generic ``except ValueError`` code keeps working.
Messages say what was wrong and what is allowed.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "BindingError",
    "BudgetExceededError",
    "CheckpointError",
    "CircuitError",
    "ConfigError",
    "ConfigFileError",
    "ConfigWarning",
    "DatasetError",
    "JobFailedError",
    "JobTimeoutError",
    "NotSupportedError",
    "ObservableError",
    "QASMError",
    "QStoreError",
    "ResourceLimitError",
    "StateError",
    "StoreError",
    "ValidationError",
]


class QStoreError(Exception):
    """Base class of every error raised by q_store."""


class ValidationError(QStoreError, ValueError):
    """Input rejected at a public boundary."""


class CircuitError(ValidationError):
    """An invalid circuit: unknown gate, wrong wires, wrong number of parameters, bad angle."""


class BindingError(ValidationError):
    """Values bound to a circuit template do not fit it (count, shape, NaN or infinity)."""


class ObservableError(ValidationError):
    """An invalid observable: unknown Pauli letter, wire out of range, bad coefficient."""


class StateError(ValidationError):
    """An invalid state vector: wrong length, zero norm, non-finite amplitudes."""


class QASMError(ValidationError):
    """OpenQASM text that cannot be parsed or uses something unsupported."""


class ConfigError(ValidationError):
    """An invalid configuration value or an unknown configuration field."""


class ConfigFileError(ConfigError):
    """A run configuration file (``q-store train CONFIG``) is unreadable or has a bad value;
    the message names the file, the key (``section.key``) and what is allowed."""

    def __init__(self, path: object, key: str | None, message: str) -> None:
        self.path, self.key, self.reason = str(path), key, message
        where = f"{path}: {key}" if key else f"{path}"
        super().__init__(f"{where}: {message}")


class ConfigWarning(UserWarning):
    """A configuration option that is valid but cannot take effect with the others."""


class DatasetError(ValidationError):
    """A data file is missing, corrupt, truncated or inconsistent (the message names the file
    and the problem), or a data set cannot be built as asked."""


class CheckpointError(ValidationError):
    """A checkpoint file is missing, unreadable, corrupted, too large or does not fit the model
    and trainer it is restored into; nothing was changed."""


class NotSupportedError(QStoreError):
    """A valid request that this component cannot carry out (e.g. adjoint on hardware)."""


class BackendError(QStoreError):
    """A backend failed to run a request."""


class JobFailedError(BackendError):
    """A submitted job ended in a failed or cancelled state."""


class JobTimeoutError(BackendError):
    """A job did not finish within the time allowed (it may still be running remotely)."""


class BudgetExceededError(QStoreError):
    """Running the next circuits would exceed the configured cost budget; nothing was
    submitted."""


class ResourceLimitError(QStoreError, MemoryError):
    """A request needs more memory than is available (or than the configured limit); it was
    refused before anything was allocated. Also a :class:`MemoryError`."""


class StoreError(QStoreError):
    """The run store cannot do what was asked: no such run, an ambiguous run reference, a
    database written by a newer q_store, a run already being written by another process."""
