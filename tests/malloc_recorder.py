"""Code run first in a child interpreter to record every ``mallopt`` call it makes.

Both the library's and the daemon's tests ask which malloc arenas a process asked for;
the calls land in the child's global ``mallopt_calls``.
"""

RECORD_MALLOPT = """
import ctypes
mallopt_calls = []
_real_cdll = ctypes.CDLL

class _RecordingCDLL:
    def __init__(self, *args, **kwargs):
        self._lib = _real_cdll(*args, **kwargs)

    def __getattr__(self, name):
        found = getattr(self._lib, name)
        if name != "mallopt":
            return found
        return lambda *args: mallopt_calls.append(args) or found(*args)

ctypes.CDLL = _RecordingCDLL
"""
