"""What every child measures about itself: CPU seconds and peak RSS.

Peak RSS comes from /proc/self/status (VmHWM, this process's own address space), not from
`getrusage`: on Linux a process's `ru_maxrss` keeps the peak of the address space it had
before `exec`, that is the RSS of the parent that started it.
"""

from __future__ import annotations

import resource


def cpu_seconds() -> float:
    """User + system CPU seconds of this process (all its threads) so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def peak_rss_mb() -> float:
    """Peak resident set of this process so far, in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")
