"""Use cases of the surveys service (being built: every use case raises NotImplementedError for now)."""

from __future__ import annotations


def __getattr__(name: str):
    def not_yet(*args, **kwargs):
        raise NotImplementedError(f"surveys.{name}")

    return not_yet
