"""Every benchmark script still imports against the package (a renamed helper once broke bench_processes.py
silently: benchmarks run rarely, long after the change)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_benchmark_script_imports():
    scripts = sorted((ROOT / "benchmarks").glob("*.py"))
    assert scripts
    code = ("import importlib.util, sys\n"
            f"sys.path.insert(0, {str(ROOT / 'python_server')!r}); sys.path.insert(0, {str(ROOT / 'benchmarks')!r})\n"
            "for path in sys.argv[1:]:\n"
            "    spec = importlib.util.spec_from_file_location('bench', path)\n"
            "    spec.loader.exec_module(importlib.util.module_from_spec(spec))\n")
    run = subprocess.run([sys.executable, "-c", code, *map(str, scripts)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
