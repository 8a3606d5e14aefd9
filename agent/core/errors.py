"""Errors a user sees: each says in one line what is wrong. Stop conditions are exceptions too."""
from __future__ import annotations

from typing import Literal


class AtelierError(Exception):
    """A problem the user can fix; its message is the one line they are shown."""


class ConfigError(AtelierError):
    """Unknown back end, missing key, bad setting."""


class InputError(AtelierError):
    """Bad brief, size off the menu, unreadable image, ..."""


class OutOfSpace(AtelierError):
    """The disk holding a folder Atelier writes is full: what was written before is kept, and the
    work can be run again once there is room (a batch retries the brief on its next run)."""

    reason = "out of disk space"  # a run's stop_reason when this ended it

    def __init__(self, folder, detail: str = ""):
        self.folder = folder
        super().__init__(f"out of disk space in {folder}" + (f" ({detail})" if detail else "")
                         + "; everything written before is kept: free some space and run the same command again")


def out_of_space(error: OSError, folder) -> OutOfSpace | None:
    """OutOfSpace for an OSError that says the disk (or the user's quota) is full, else None."""
    import errno
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return OutOfSpace(folder, error.strerror or "")
    return None


class ServiceError(AtelierError):
    """A remote service failed; the message names the service."""

    def __init__(self, service: str, message: str, retryable: bool = False):
        super().__init__(f"{service}: {message}")
        self.service, self.retryable = service, retryable


class StopRun(Exception):
    """Raised inside the director to end a run; the message is the stop reason."""


class Approved(StopRun):
    pass


class BudgetSpent(StopRun):
    """A budget of the run is spent; `budget` says which one, as data ("money": the director presents
    the result without another paid call)."""

    def __init__(self, message: str, budget: Literal["iterations", "generations", "compute", "seconds", "money",
                                                      "turns", "room"] | None = None):
        super().__init__(message)
        self.budget = budget


class Stopped(StopRun):
    """The user stopped the run."""


class Ended(StopRun):
    """The director chose to end the run without approval."""


class Unverified(StopRun):
    """The critic cannot check something the brief asks (an unchecked requirement is never a pass),
    and nothing it can check is wrong: no further attempt could be approved."""


class CriticFailed(StopRun):
    """Every critique of the run failed: nothing made could be judged."""


class TooManyErrors(StopRun):
    """Tools failed several times in a row; the message is the last error."""


def one_line(error, what: str = "input") -> str:
    """A pydantic ValidationError as one line naming each bad field."""
    problems = []
    for err in error.errors():
        loc = ".".join(str(x) for x in err["loc"]) or what
        msg = err["msg"].removeprefix("Value error, ")
        problems.append(f"{loc}: {msg}" if loc != what else msg)
    return f"bad {what}: " + "; ".join(problems)


class MalformedOutput(ServiceError):
    """The model answered, but not in the shape asked for (not JSON, or failing the schema).
    Retryable: the same question asked again usually gets a well-formed answer."""

    def __init__(self, service: str, message: str):
        super().__init__(service, message, retryable=True)
