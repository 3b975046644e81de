"""Library log chatter, quieted for one block: where the course says what matters in its own words."""

from __future__ import annotations

import contextlib
import importlib


@contextlib.contextmanager
def quiet_logs(*libraries: str):
    """Only errors from the loggers of the named libraries (``"diffusers"``, ``"transformers"``) inside the ``with``
    block; each one's level is put back afterwards, also when the block raises."""
    logs = [importlib.import_module(f"{name}.utils.logging") for name in libraries]
    levels = [log.get_verbosity() for log in logs]
    for log in logs:
        log.set_verbosity_error()
    try:
        yield
    finally:
        for log, level in zip(logs, levels):
            log.set_verbosity(level)


@contextlib.contextmanager
def no_progress_bars(*libraries: str):
    """No progress bars from the named libraries inside the ``with`` block (a "Loading pipeline components" or
    "Writing model shards" bar left in a notebook or a log); each one's setting is put back afterwards."""
    logs = [importlib.import_module(f"{name}.utils.logging") for name in libraries]
    enabled = [log.is_progress_bar_enabled() for log in logs]
    for log in logs:
        log.disable_progress_bar()
    try:
        yield
    finally:
        for log, was in zip(logs, enabled):
            if was:
                log.enable_progress_bar()
