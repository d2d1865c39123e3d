"""The process environment, as module-scoped fixtures need it around a run."""

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def environment_restored() -> Iterator[None]:
    """The process environment as it was, afterwards: a run exports settings into it for its
    engines (dbt's target and warehouse file, dlt's buffer and pipeline settings)."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
