# Attacks: the next submission graded under the same worker uid. At import it looks for a
# key that an earlier submission left in the uid's keyring, prints what it found, and adds
# one itself (where a filter does not stop it).
# Must happen: no submission finds a key an earlier one added: the filter denies keyctl,
# or, where there is no filter, the worker empties the uid's keyrings before student code.
import ctypes as _ctypes
import platform as _platform

_libc = _ctypes.CDLL(None, use_errno=True)
# asm/unistd.h: add_key, keyctl
_ADD_KEY, _KEYCTL = {"x86_64": (248, 250), "aarch64": (217, 219)}[_platform.machine()]
_KEYCTL_SEARCH = 10
_KEY_SPEC_USER_KEYRING = -4


def _report(name, result):
    print(f"PROBE {name} {result} {_ctypes.get_errno() if result == -1 else 0}")


_ctypes.set_errno(0)
_report(
    "search",
    _libc.syscall(_KEYCTL, _KEYCTL_SEARCH, _KEY_SPEC_USER_KEYRING, b"user", b"left-behind", 0),
)
_ctypes.set_errno(0)
_report(
    "add_key",
    _libc.syscall(_ADD_KEY, b"user", b"left-behind", b"secret", 6, _KEY_SPEC_USER_KEYRING),
)
