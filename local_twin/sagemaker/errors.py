"""The local SageMaker's errors and timestamps, shaped as SageMaker's: a module of their own, so that the service's
parts (jobs, tuning, endpoints, experiments, rules, quotas) and the service that routes to them import them
without importing each other back."""

import time


class SageMakerError(Exception):
    """An AWS-shaped error: ``__type`` code, message and HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def validation(message: str) -> SageMakerError:
    return SageMakerError("ValidationException", message)


def failure_reason(error: Exception) -> str:
    """A job's or an endpoint's FailureReason for what stopped it: SageMaker's own errors by their code
    ("ClientError: ..."), anything else by its type."""
    if isinstance(error, SageMakerError):
        return f"{error.code}: {error.message}"
    return f"{type(error).__name__}: {error}"


def not_found(kind: str, name: str) -> SageMakerError:
    """What SageMaker answers for a missing resource: ResourceNotFound for tuning jobs, ValidationException
    for the rest (training jobs say "Requested resource not found.", models and endpoints "Could not find")."""
    if kind == "hyperparameter tuning job":
        return SageMakerError("ResourceNotFound", f"Amazon SageMaker can't find a tuning job called {name}.")
    if kind == "training job":
        return validation(f"Requested resource not found: training job '{name}'.")
    return validation(f"Could not find {kind} '{name}'.")


def now() -> float:
    """Timestamps travel as epoch seconds in the JSON protocol."""
    return time.time()
