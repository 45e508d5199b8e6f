"""Machine description printed at the top of every benchmark."""

from __future__ import annotations

import datetime
import os
import platform


def describe() -> str:
    """One line: date, CPU model, core count, memory, Python."""
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{datetime.date.today().isoformat()} | {cpu} | {os.cpu_count()} cores | "
        f"{mem_gb:.0f} GB | Python {platform.python_version()}"
    )
