"""The machine a benchmark ran on, for its report."""

from __future__ import annotations

import os
import platform
from pathlib import Path

__all__ = ["machine"]


def machine() -> dict[str, str]:
    """CPU, cores, torch threads, GPU, Python, torch and OS versions."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = str(len(os.sched_getaffinity(0)))
    except AttributeError:
        cores = str(os.cpu_count())
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none (CPU only)"
    return {"cpu": cpu, "cores": f"{cores} usable ({os.cpu_count()} logical)", "torch threads": str(torch.get_num_threads()),
            "gpu": gpu, "python": platform.python_version(), "torch": torch.__version__, "os": platform.platform()}
