# Attacks: at import, makes the system calls a submission could use to leave state behind
# (a key in the worker uid's keyring, read by the next submission graded under that uid;
# System V shared memory, semaphores or message queues, or a POSIX message queue, which
# outlive the process in the IPC namespace the next submission may share),
# to gain capabilities (a user namespace of its own), or to reach the kernel's larger
# attack surfaces (BPF, perf events, io_uring, mounts, tracing), and prints what each
# returned. Its functions are the correct ones.
# Must happen: every call fails with EPERM (the worker's seccomp filter), memfd_create
# too where no control group counts its memory, and the functions keep full marks.
import ctypes as _ctypes
import os as _os
import platform as _platform

_libc = _ctypes.CDLL(None, use_errno=True)
# asm/unistd.h: add_key, keyctl, bpf, perf_event_open, io_uring_setup
_NUMBERS = {
    "x86_64": {
        "add_key": 248,
        "keyctl": 250,
        "bpf": 321,
        "perf_event_open": 298,
        "io_uring_setup": 425,
    },
    "aarch64": {
        "add_key": 217,
        "keyctl": 219,
        "bpf": 280,
        "perf_event_open": 241,
        "io_uring_setup": 425,
    },
}.get(_platform.machine(), {})
_CLONE_NEWUSER = 0x10000000
_PTRACE_TRACEME = 0
_KEYCTL_GET_KEYRING_ID = 0
_KEY_SPEC_USER_KEYRING = -4


def _probe(name, call):
    _ctypes.set_errno(0)
    result = call()
    print(f"PROBE {name} {result} {_ctypes.get_errno() if result == -1 else 0}")


def _syscall(name, *args):
    return lambda: _libc.syscall(_NUMBERS[name], *args)


if "add_key" in _NUMBERS:
    _probe(
        "add_key",
        _syscall("add_key", b"user", b"left-behind", b"secret", 6, _KEY_SPEC_USER_KEYRING),
    )
    _probe("keyctl", _syscall("keyctl", _KEYCTL_GET_KEYRING_ID, _KEY_SPEC_USER_KEYRING, 1))
    _probe("bpf", _syscall("bpf", 0, None, 0))
    _probe("perf_event_open", _syscall("perf_event_open", None, 0, -1, -1, 0))
    _probe("io_uring_setup", _syscall("io_uring_setup", 1, None))
_probe("unshare_user", lambda: _libc.unshare(_CLONE_NEWUSER))
_probe("ptrace", lambda: _libc.ptrace(_PTRACE_TRACEME, 0, None, None))
_probe("mount", lambda: _libc.mount(b"none", b"/tmp", b"tmpfs", 0, None))
_IPC_PRIVATE, _IPC_CREAT, _O_CREAT, _O_RDWR = 0, 0o1000, 0o100, 0o2
_probe("shmget", lambda: _libc.shmget(_IPC_PRIVATE, 4096, _IPC_CREAT | 0o666))
_probe("semget", lambda: _libc.semget(_IPC_PRIVATE, 1, _IPC_CREAT | 0o666))
_probe("msgget", lambda: _libc.msgget(_IPC_PRIVATE, _IPC_CREAT | 0o666))
_probe("mq_open", lambda: _libc.mq_open(b"/left-behind", _O_CREAT | _O_RDWR, 0o666, None))


def _memfd():
    try:
        _os.close(_os.memfd_create("hold"))
    except OSError as exc:
        return print(f"PROBE memfd_create -1 {exc.errno}")
    print("PROBE memfd_create 0 0")


_memfd()
