"""allocator.py: after tf.data's 128 KB trim setting, a freed large buffer must be reused, not faulted back."""
import platform
import subprocess
import sys

from unetkit import allocator

# In a fresh interpreter: set what TensorFlow's generator dataset sets, optionally tune, then malloc,
# touch and free a 20 MB buffer twice; print the page faults of the second round (the steady state of a
# training step, which frees and re-allocates buffers of this size every step).
PROBE = """
import ctypes, resource, sys
from unetkit import allocator
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.mallopt(-1, 128 * 1024)
if sys.argv[1] == "tuned":
    assert allocator.tune()
n = 20 << 20
def round_trip():
    p = libc.malloc(n)
    ctypes.memset(p, 1, n)
    libc.free(p)
round_trip()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
round_trip()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def second_round_faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def test_tuned_heap_reuses_a_freed_large_buffer_without_page_faults():
    if platform.libc_ver()[0] != "glibc":
        assert allocator.tune() is False  # nothing to tune: said, not pretended
        return
    default, tuned = second_round_faults("default"), second_round_faults("tuned")
    assert default >= 8, default           # mmap'd afresh: at least one fault per (huge) page
    assert tuned * 4 < default, (tuned, default)


def test_malloc_default_leaves_glibc_alone(monkeypatch):
    monkeypatch.setenv("UNETKIT_MALLOC", "default")
    assert allocator.tune() is False


def test_an_unknown_malloc_setting_is_refused_with_the_choices(monkeypatch):
    import pytest

    from unetkit.errors import UnetkitError
    monkeypatch.setenv("UNETKIT_MALLOC", "off")
    with pytest.raises(UnetkitError, match="UNETKIT_MALLOC='off': set it to tuned or default"):
        allocator.tune()
