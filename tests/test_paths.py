"""Where files go: temporary names for writing a cache entry whole."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from explorer.paths import scratch_beside


def test_each_thread_and_process_gets_its_own_temporary_name_ending_like_the_file():
    target = Path("/cache/cf-bias/pictures-abc.npz")
    names = [scratch_beside(target)]
    worker = threading.Thread(target=lambda: names.append(scratch_beside(target)))
    worker.start()
    worker.join()
    other = subprocess.run([sys.executable, "-c", f"from pathlib import Path; from explorer.paths import "
                            f"scratch_beside; print(scratch_beside(Path({str(target)!r})))"],
                           capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent)
    names.append(Path(other.stdout.strip()))
    assert len(set(names)) == 3  # two servers or two test workers never write into one temporary file
    assert all(n.parent == target.parent and n.suffix == ".npz" and n.name.startswith(".") for n in names)
    gz = scratch_beside(Path("/c/tags.json.gz")).name
    assert gz.startswith(".tags.json.") and gz.endswith(".tmp.gz")  # gzip's file keeps its suffix
