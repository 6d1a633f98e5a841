"""The machine a benchmark ran on, printed above its tables: figures mean little without it.

``machine_header()`` names the CPU model, the cores this process may use, NumPy's BLAS and the
kernel it picked at run time for this CPU (OpenBLAS chooses one per CPU family: ``Haswell``,
``SkylakeX``, ``Zen``...), BLAS thread settings, and the Python, NumPy and PyTorch versions.
PyTorch's version is read from its package metadata, so torch is not imported.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
from importlib import metadata

__all__ = ["machine_header", "print_machine_header", "cpu_model", "blas_info"]


def cpu_model() -> str:
    """The CPU's model name, family/model numbers and widest vector unit (``/proc/cpuinfo`` on
    Linux, else :func:`platform.processor`)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if not line.strip():
                    break  # the first processor is enough
                fields.setdefault(key.strip().lower(), value.strip())
    except OSError:
        return platform.processor() or platform.machine() or "unknown CPU"
    flags = set(fields.get("flags", "").split())
    vector = next((v for v in ("avx512f", "avx2", "avx", "sse4_2") if v in flags), None)
    extra = [f"family {fields['cpu family']} model {fields['model']}" if "cpu family" in fields else "",
             vector.upper() if vector else ""]
    return ", ".join([fields.get("model name", platform.machine()), *[e for e in extra if e]])


def _openblas_corename() -> str | None:
    """The kernel OpenBLAS chose at run time, from the library NumPy loaded (as threadpoolctl
    does), or None if that cannot be found out."""
    try:
        import threadpoolctl  # the library made for this, when installed

        for info in threadpoolctl.threadpool_info():
            if info.get("internal_api") == "openblas" and info.get("architecture"):
                return str(info["architecture"])
    except Exception:
        pass
    try:
        with open("/proc/self/maps", encoding="utf-8") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower() and ".so" in line.split()[-1]}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for symbol in ("scipy_openblas_get_corename64_", "openblas_get_corename64_", "openblas_get_corename"):
            fn = getattr(lib, symbol, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                return fn().decode()
    return None


def blas_info() -> str:
    """NumPy's BLAS library and version, and its run-time kernel when it can be found."""
    import numpy as np

    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        text = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # an old NumPy, or a build without the dict form
        text = "unknown BLAS"
    core = _openblas_corename()
    return f"{text}, kernel {core}" if core else text


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_header() -> str:
    """A few lines naming the CPU, the cores, the BLAS and the library versions."""
    import numpy as np

    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 0
    threads = {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS") if k in os.environ}
    return "\n".join([
        f"machine: {cpu_model()}, {usable} usable core(s) of {os.cpu_count()}, {platform.system()} {platform.machine()}",
        f"BLAS:    {blas_info()}; thread settings {threads or 'none (library defaults)'}",
        f"python {sys.version.split()[0]}, numpy {np.__version__}, torch {_version('torch')}",
    ])


def print_machine_header() -> None:
    print(machine_header(), end="\n\n", flush=True)


if __name__ == "__main__":
    print_machine_header()
