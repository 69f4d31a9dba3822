"""The task namespace: one module per room, collected here; `tasks.py` imports `ns`.

Example, the whole runbook, stopping at the first failure:

    invoke migrate verify restart smoke --target turbo-response-backend
"""

from __future__ import annotations

from types import ModuleType

from invoke import Collection, Task

from oncall.config_defaults import DEFAULTS
from oncall.tasks import (
    _cli,
    _invoke_patches,
    bench,
    demo,
    doctor,
    init,
    migrate,
    remedies,
    render,
    runbook,
    sandbox,
    smoke,
    verify,
)


def _tasks_of(module: ModuleType) -> list[Task]:  # type: ignore[type-arg]
    return [
        obj
        for obj in vars(module).values()
        if isinstance(obj, Task) and getattr(obj.body, "__module__", None) == module.__name__
    ]


_invoke_patches.install()
_cli.install()

ns = Collection()
for _module in (init, doctor, migrate, verify, smoke, render, remedies, runbook, demo, bench):
    for _task in _tasks_of(_module):
        ns.add_task(_task)
ns.add_collection(Collection("sandbox", *_tasks_of(sandbox)))
ns.configure({"oncall": DEFAULTS, "tasks": {"auto_dash_names": True}})
