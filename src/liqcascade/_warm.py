"""Compile the engine into Numba's disk cache in a second process, beside the first run.

The first run on a machine (or after an edit of the sources) compiles the step loop and the
kernels it calls, about a minute of one core, and before that draws the population, several
seconds of the other.  :func:`start` runs a small replay of the same scenario in a child process
(``python -m liqcascade._warm``), which compiles the same kernels with the same types and
writes them to the disk cache; the run draws its population meanwhile and :func:`Warm.wait`\\ s
for the child before its engine starts, which then loads the kernels instead of compiling them.
The child's results are discarded; if it fails, the run compiles the kernels itself, as without
it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: positions the child draws: enough for two per market of any bundled scenario, few enough that
#: its population and runs take a second or two
WARM_POSITIONS = 4_000


class Warm:
    """A child process compiling the engine (:func:`start`); :meth:`wait` waits for it once."""

    def __init__(self, proc: subprocess.Popen | None) -> None:
        self.proc = proc

    def wait(self) -> bool:
        """Wait for the child; True when it compiled and ran to the end."""
        if self.proc is None:
            return False
        try:
            return self.proc.wait() == 0
        finally:
            self.proc = None

    def stop(self) -> None:
        """Stop the child if it still runs (an interrupted or failed run)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def start(scenario: str | Path, *, mode: str, seed: int, parameters: str | Path | None = None) -> Warm:
    """Start the child for ``scenario`` (a bundled name or a TOML path, as the run was given it)."""
    cmd = [sys.executable, "-m", "liqcascade._warm", str(scenario), mode, str(int(seed))]
    if parameters is not None:
        cmd.append(str(parameters))
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=dict(os.environ, LIQCASCADE_THREADS="1"),
        )
    except OSError:
        return Warm(None)
    return Warm(proc)


def main(argv: list[str]) -> int:
    """The child: a small replay of the scenario and its liquidation maps, results discarded."""
    from .pipeline import replay

    scenario, mode, seed = argv[0], argv[1], int(argv[2])
    parameters = argv[3] if len(argv) > 3 else None
    res = replay(scenario, mode=mode, seed=seed, positions=WARM_POSITIONS, parameters=parameters)
    res.liquidation_maps()
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a child process
    sys.exit(main(sys.argv[1:]))
