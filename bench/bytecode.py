"""One bytecode cache for the measured processes of every benchmark.

Where the environment forbids writing bytecode (PYTHONDONTWRITEBYTECODE, as on this machine),
each process would recompile all it imports, dbt's and dlt's lazy imports inside the measured
run included: seconds of every measurement that no deployment pays. So every module is compiled
once into a private cache, and the measured processes read it (`cached_bytecode_env`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from billing_pipelines.config import PROJECT_ROOT

BENCH = Path(__file__).resolve().parent
BYTECODE = BENCH / ".work" / "pycache"


def cached_bytecode_env(env: dict[str, str]) -> dict[str, str]:
    """`env` for a measured process: bytecode read from (and written to) the private cache."""
    env = {key: value for key, value in env.items() if key != "PYTHONDONTWRITEBYTECODE"}
    return env | {"PYTHONPYCACHEPREFIX": str(BYTECODE)}


def compile_bytecode() -> None:
    """Compile every installed package, the project and the benchmarks into the cache."""
    packages = [path for path in sys.path if path.endswith("site-packages")]
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", *packages, str(PROJECT_ROOT / "billing_pipelines"), str(BENCH)],
        env=cached_bytecode_env(dict(os.environ)), check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
