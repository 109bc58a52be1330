"""stratify's own exceptions: one hierarchy, each kind carrying what a person should do about it.

Every error a stage raises on purpose is a `StratifyError`. Its `exit_code`
is what the `stratify` command exits with, and `action_for(cfg)` the
sentence the CLI, `<out>/status.json` and the Airflow failure callbacks show
under "What to do". Callers tell kinds apart with `isinstance`, never by a
class's name.

    StratifyError
    ├── ConfigError          the place configuration is wrong (exit 2)
    ├── WarehouseError       a warehouse statement or connection failed
    │   ├── WarehouseDamaged the database file itself is damaged or cut short
    │   ├── WarehouseLocked  another program holds the database file
    │   └── WarehouseKeyError the encrypted warehouse's key is missing or wrong
    ├── DeliveryError        a delivery cannot be read as the contract says
    ├── ModelError           no usable model
    ├── PublishError         the night's lists are not published
    │   ├── PublishHeld      the run must publish nothing (refused register, too many refusals)
    │   └── PublishCheckFailed the built lists failed their checks
    ├── AccessRefused        an export or re-identification request was refused
    │   └── NotPublished     `latest` or a given list is not what stratify published
    └── RunLocked            another run of the place is active (exit 4)

This module imports nothing from stratify, so any module (and the Airflow
callbacks at DAG-parse time) can import it cheaply.
"""

from __future__ import annotations

from typing import Any

KEPT = "the last good lists stay published"


class StratifyError(Exception):
    """An error stratify raises on purpose: the message says what is wrong, `action_for` what to do."""

    exit_code = 1
    action = "see the task log for the cause; the next run retries from the start"

    def __init__(self, *args: Any, action: str | None = None):
        super().__init__(*args)
        if action is not None:
            self.action = action

    def action_for(self, cfg: Any) -> str:
        """What to do, naming the place's files where that helps (`cfg` is the PlaceConfig, or None)."""
        return self.action


class ConfigError(StratifyError, ValueError):
    """The place configuration is invalid; the message names the key and what to do.

    `problems` holds one sentence per bad key (its dotted path first): the
    configuration is checked whole before this is raised, so one run of the
    command names them all.
    """

    exit_code = 2

    def __init__(self, message: str = "", problems: list[str] | None = None, where: Any = None,
                 action: str | None = None):
        self.problems = list(problems) if problems else [message]
        if len(self.problems) == 1:
            text = self.problems[0]
        else:
            text = (f"{len(self.problems)} problems" + (f" in {where}" if where else "") + ": "
                    + "; ".join(self.problems))
        super().__init__(text, action=action)

    def action_for(self, cfg: Any) -> str:
        where = getattr(cfg, "path", None) or "the place configuration"
        return f"correct the named key(s) in {where} and run again"


class WarehouseError(StratifyError, RuntimeError):
    """A warehouse statement or connection failed; the message says which file and step."""

    def action_for(self, cfg: Any) -> str:
        wh = getattr(cfg, "warehouse", None) or "the warehouse"
        return f"see the message; if another program holds {wh}, stop it or wait"


class WarehouseDamaged(WarehouseError):
    """The warehouse file itself is damaged or cut short."""

    def action_for(self, cfg: Any) -> str:
        return (f"restore {getattr(cfg, 'warehouse', 'the warehouse')} from its last backup, or rebuild it from "
                f"the archive {getattr(cfg, 'archive', '')}".rstrip())


class WarehouseLocked(WarehouseError):
    """Another program holds the warehouse file."""

    def action_for(self, cfg: Any) -> str:
        return (f"wait for the program holding {getattr(cfg, 'warehouse', 'the warehouse')} to finish, or stop "
                "it, then run again")


class WarehouseKeyError(WarehouseError):
    """The encrypted warehouse's key is missing or unusable; the message says which variable to set."""

    def action_for(self, cfg: Any) -> str:
        return "set the warehouse key where the message says (ask the data controller), then run again"


class DeliveryError(StratifyError):
    """A delivery cannot be read or loaded as the contract describes."""

    action = "the delivery named in the message cannot be used: ask its supplier for a corrected file"


class ModelError(StratifyError, RuntimeError):
    """No usable model: the message says whether to train, retrain or wait for more history."""

    def action_for(self, cfg: Any) -> str:
        where = getattr(cfg, "path", None) or "FILE"
        return f"restore the model file or run `stratify train --config {where}`"


class PublishError(StratifyError, RuntimeError):
    """The night's lists were not published."""


class PublishHeld(PublishError):
    """The run must not publish (e.g. the register was refused); `latest` stays as it was."""

    exit_code = 3
    action = "see why in the run's validation page; correct the deliveries named there"


class PublishCheckFailed(PublishError):
    """The lists built tonight failed the checks before publication; nothing was published."""

    action = "the built lists failed their checks and were not published: report this"


class AccessRefused(StratifyError, ValueError):
    """A re-identification or export request was refused; nothing was read, written or logged."""

    action = "correct the request as the message says and ask again"


class NotPublished(AccessRefused):
    """`<out>/latest` (or a list given by path) is not something stratify published."""

    action = ("nothing was read or written: `latest` must point at a published run folder in <out>/runs/ and a "
              "list must be one stratify published; tell information-governance staff, then publish with "
              "`stratify run` (or point `latest` back at the last published run)")


class RunLocked(StratifyError, RuntimeError):
    """Another run of this place is active; the message names it and says what to do."""

    exit_code = 4
    action = "wait for the active run to finish"

    def __init__(self, message: str, holder: dict | None = None):
        super().__init__(message)
        self.holder = holder or {}


def caused_by(exc: BaseException | None, kind: type[BaseException] | tuple[type[BaseException], ...],
              limit: int = 20) -> BaseException | None:
    """The first exception of `kind` in `exc`'s chain (itself, its cause, its context...), or None."""
    seen = 0
    while exc is not None and seen < limit:
        if isinstance(exc, kind):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None
