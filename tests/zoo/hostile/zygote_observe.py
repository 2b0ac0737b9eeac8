# Observes, at import, what a submission graded in a class can see of its slot's sandbox,
# and prints it as one line: "ZYGOTE-OBSERVED " and a JSON object. It attacks nothing by
# itself: appended after another snippet, it shows what that one left (the positive
# control); in the next submission graded in the same slot, that nothing is left.
#   pid, ppid, ns          this process, its parent (the zygote), its pid namespace
#   parent_start           the parent's start time (clock ticks after boot): with ns and
#                          ppid, which zygote this is (pids repeat in a new sandbox)
#   parent_cmdline         the parent's command line
#   parent_cpu             the parent's "Max cpu time" line of /proc/PPID/limits, if readable
#   parent_fds             what listing the parent's descriptors gave (a list, or the error)
#   cpu_limit              this process's RLIMIT_CPU
#   processes, ancestors   every process in /proc; this one and its chain of parents
#   proc_errors            the processes listed that could not be read (gone meanwhile)
#   fds                    this process's descriptors and what each is
#   tmp                    every path under /tmp, and tmp_errors what could not be listed
#   sub_top, sub_files     /lg/sub's entries, and every file under it
#   found                  paths whose name (anywhere we look) or content (under /lg/sub,
#                          /tmp) holds the needle, which is {HEAD} then {TAIL}: written in
#                          two parts so that this file itself does not hold it
import json as _zj
import os as _zos
import resource as _zresource
import stat as _zstat


def _zygote_observe():
    needle = "{HEAD}" + "{TAIL}"
    me = _zos.getpid()

    def read(path, limit=1 << 20):
        with open(path, "rb") as f:
            return f.read(limit)

    def stat_fields(pid):
        data = read(f"/proc/{pid}/stat")
        return data[data.rindex(b")") + 2 :].split()

    processes, proc_errors = {}, []
    for name in _zos.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            fields = stat_fields(name)
            cmdline = read(f"/proc/{name}/cmdline").replace(b"\0", b" ").decode("utf-8", "replace")
            uid = _zos.stat(f"/proc/{name}").st_uid
        except (OSError, ValueError) as exc:
            proc_errors.append(f"{name}: {exc!r}")
            continue
        processes[int(name)] = {
            "ppid": int(fields[1]), "start": int(fields[19]), "uid": uid, "cmdline": cmdline[:300],
        }
    ancestors, pid = [], me
    while pid in processes and pid not in ancestors:
        ancestors.append(pid)
        pid = processes[pid]["ppid"]

    ppid = _zos.getppid()
    parent = processes.get(ppid, {})
    try:
        parent_cmdline = read(f"/proc/{ppid}/cmdline").replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        parent_cmdline = ""
    try:
        lines = read(f"/proc/{ppid}/limits").decode().splitlines()
        parent_cpu = next((line for line in lines if line.startswith("Max cpu time")), None)
    except OSError:
        parent_cpu = None
    try:
        parent_fds = sorted(_zos.listdir(f"/proc/{ppid}/fd"))
    except OSError as exc:
        parent_fds = _zos.strerror(exc.errno) if exc.errno else str(exc)

    fds = {}
    for name in _zos.listdir("/proc/self/fd"):
        try:
            fds[name] = _zos.readlink(f"/proc/self/fd/{name}")
        except OSError:
            pass  # the descriptor that listed the folder, closed since

    found, tmp, tmp_errors = [], [], []

    def look(top, contents, errors=None):
        for root, dirs, files in _zos.walk(top, onerror=lambda exc: errors is not None and errors.append(str(exc))):
            for name in dirs + files:
                path = _zos.path.join(root, name)
                if top == "/tmp":
                    tmp.append(_zos.path.relpath(path, top))
                if needle in name:
                    found.append(path)
                elif contents and name in files:
                    try:
                        # Regular files only: opening a FIFO would wait for a writer.
                        if _zstat.S_ISREG(_zos.lstat(path).st_mode) and needle.encode() in read(path):
                            found.append(path)
                    except OSError:
                        pass

    look("/tmp", True, tmp_errors)
    look("/lg/sub", True)
    for top in ("/dev", "/var/tmp", "/run", "/lg/job"):
        look(top, False)
    for top in ("/", "/lg"):
        found += [_zos.path.join(top, n) for n in _zos.listdir(top) if needle in n]

    sub_files = []
    for root, dirs, files in _zos.walk("/lg/sub"):
        sub_files += [_zos.path.relpath(_zos.path.join(root, n), "/lg/sub") for n in files]

    print("ZYGOTE-OBSERVED " + _zj.dumps({
        "pid": me,
        "ppid": ppid,
        "ns": _zos.readlink("/proc/self/ns/pid"),
        "parent_start": parent.get("start"),
        "parent_cmdline": parent_cmdline,
        "parent_cpu": parent_cpu,
        "parent_fds": parent_fds,
        "cpu_limit": list(_zresource.getrlimit(_zresource.RLIMIT_CPU)),
        "processes": processes,
        "proc_errors": proc_errors[:20],
        "ancestors": ancestors,
        "fds": fds,
        "tmp": sorted(tmp),
        "tmp_errors": tmp_errors,
        "sub_top": sorted(_zos.listdir("/lg/sub")),
        "sub_files": sorted(sub_files),
        "found": sorted(found),
    }), flush=True)


_zygote_observe()
