"""Invoke entry point: the task namespace lives in the oncall package."""

from oncall.tasks import ns

__all__ = ["ns"]
