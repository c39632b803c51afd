"""Opening a checkpoint leaves the weights resident once: no mapping of the file stays behind the copies
(safetensors and torch.load(mmap=True) hand out tensors inside a mapping; pages read once would stay)."""
import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")


def _bench():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_memory
    finally:
        sys.path.pop(0)
    return bench_memory


@pytest.mark.parametrize("fmt", ["hf", "gptviz"])
def test_no_file_mapping_stays_resident_after_load(tmp_path, fmt):
    bench = _bench()
    # 6 x 512, 8192 ids: 88 MiB of fp32 weights, most of them transposed on load (HF Conv1D)
    bench.write_random_hf(tmp_path / "warm", 1, 2, 64, n_positions=64)
    nbytes = bench.write_random_hf(tmp_path / "big", 6, 8, 512, n_positions=256, vocab=8192)
    warm, big = tmp_path / "warm", tmp_path / "big"
    if fmt == "gptviz":                     # our format: nothing to transpose, every tensor a float32 as stored
        code = ("import sys; sys.path.insert(0, sys.argv[1]); import gptviz\n"
                "from gptviz.checkpoints.native import save_native\n"
                "for src, dst in zip(sys.argv[2::2], sys.argv[3::2]):\n"
                "    m = gptviz.load(src); save_native(dst, m.model.state_dict(), m.config, m.tokenizer, 'x')\n")
        subprocess.run([sys.executable, "-c", code, str(ROOT), str(warm), str(tmp_path / "warm.safetensors"),
                        str(big), str(tmp_path / "big.safetensors")], check=True)
        warm, big = tmp_path / "warm.safetensors", tmp_path / "big.safetensors"
    r = bench.measure_load(big, warm)
    b, a, w = r["before"], r["after"], r["weights"]
    assert w == nbytes
    assert a["RssFile"] - b["RssFile"] < 0.1 * w, r          # before the fix: ~1.0 x w (the whole file)
    assert a["VmRSS"] - b["VmRSS"] < 1.1 * w, r
    assert a["RssAnon"] - b["RssAnon"] > 0.9 * w, r          # the weights themselves are resident


FAULTS = """
import resource, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
from gptviz.core.memory import return_freed_memory_promptly
assert return_freed_memory_promptly(**eval(sys.argv[2]))
keep = [np.ones(1 << 16) for _ in range(8)]        # some live blocks below, as a model's would be
def churn():
    for _ in range(40):                            # a 2 MiB block (under the 4 MiB mmap threshold) made and freed
        a = np.ones(1 << 18)
        del a
churn()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
churn()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(**kw) -> int:
    r = subprocess.run([sys.executable, "-c", FAULTS, str(ROOT), repr(kw)], capture_output=True, text=True, check=True)
    return int(r.stdout.split()[-1])


def test_freed_heap_top_is_kept_not_refaulted():
    """Setting the mmap threshold freezes glibc's trim threshold at 128 KiB: every freed multi-MiB block at the
    heap top went back to the system and was faulted in again (a one-token append at 512 tokens: ~18,000 faults).
    40 blocks of 2 MiB (512 pages each) made and freed: almost no faults with the top kept."""
    assert _faults() < 40 * 512 // 10
    assert _faults(keep_top=128 << 10) > 40 * 512 // 2    # the frozen default: each block faulted in again
