"""Write files and directories so that a crash never leaves a half-written one that looks whole.

Files: `write_bytes` / `write_text` put the bytes in a temporary sibling, flush them to disk and
rename it over the target: a reader sees the old file or the new one, never a mix.

Directories (an artifact, a model directory, a run directory)::

    staging = staging_dir(target)        # a new hidden sibling; leftovers of killed runs cleaned
    ...write everything into staging...
    replace_dir(staging, target, unknown_files=my_unknown_files, force=False)

`replace_dir` moves `staging` to `target`. An existing `target` is replaced only when it is
empty or when the caller recognises it as its own: `unknown_files(target)` returns None for a
directory the caller did not write (never replaced, whatever `force` says), else the entries
in it the caller did not write (replaced only when there are none, or with `force`).

On Linux the old and the new directory are swapped in one atomic step (``renameat2`` with
``RENAME_EXCHANGE``), so a kill at any instant leaves the old or the new one at `target`;
the swapped-out old copy is deleted after. Where the kernel or filesystem cannot exchange,
the old directory is first moved aside (``.NAME.aside-PID-…``) and the new one renamed in;
a kill between the two leaves `target` missing, and `recover(target)` (run by `staging_dir`
and by readers such as `tinyai.runtime.load_artifact`) moves the old one back.

Leftovers of killed runs (``.NAME.partial-PID-…`` staging folders or swapped-out copies,
``.NAME.aside-PID-…`` folders) are removed by the next `staging_dir(target)` once their
process is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import secrets
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from tinyai.errors import TinyAIError

# unknown_files(existing_dir) -> None: not the caller's; else entries the caller did not write.
UnknownFiles = Callable[[Path], list[str] | None]

PARTIAL, ASIDE = "partial", "aside"
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2
# renameat2 errors meaning "this kernel / filesystem cannot exchange": fall back.
_NO_EXCHANGE = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV}
_KILL_ENV = "TINYAI_TEST_KILL_AT"


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{_token()}.tmp"
    # Not tempfile.mkstemp: its 0600 mode would become the file's; this one gets the umask's.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


# ------------------------------------------------------------------------------ directories
def staging_dir(target: str | os.PathLike[str]) -> Path:
    """A new empty hidden sibling of `target` to write into, after cleaning up killed runs."""
    target = Path(target)
    clean_stale(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        while True:  # not tempfile.mkdtemp: its 0700 mode would become the output's
            staging = target.parent / (_prefix(target, PARTIAL, os.getpid()) + _token())
            try:
                staging.mkdir()
                return staging
            except FileExistsError:
                continue
    except OSError as exc:
        raise TinyAIError(
            f"cannot write in {target.parent} ({exc.strerror}); choose a writable output directory"
        ) from None


def check_replaceable(target: Path, unknown_files: UnknownFiles, force: bool = False,
                      error: type[TinyAIError] = TinyAIError) -> None:
    """Raise a one-line `error` unless `replace_dir` may put a directory at `target`."""
    if not os.path.lexists(target):
        return
    if target.is_symlink() or not target.is_dir():
        raise error(
            f"{target} exists and is not a directory (or is a link); choose a new output directory"
        )
    try:
        if next(target.iterdir(), None) is None:
            return
    except OSError as exc:
        raise error(f"cannot read {target} ({exc.strerror}); choose another output directory") \
            from None
    unknown = unknown_files(target)
    if unknown is None:
        raise error(
            f"{target} exists and was not written by tinyai, which never replaces such a folder; "
            "choose a new or empty output directory"
        )
    if unknown and not force:
        more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
        raise error(
            f"{target} holds files tinyai did not write ({', '.join(unknown[:3])}{more}); "
            "move them out, or pass --force to replace the folder with them"
        )


def replace_dir(staging: Path, target: Path, unknown_files: UnknownFiles, force: bool = False,
                error: type[TinyAIError] = TinyAIError) -> Path:
    """Move the finished `staging` directory to `target` (see the module docstring).

    `error` is the TinyAIError subclass a refusal raises (the caller's kind of output).
    """
    check_replaceable(target, unknown_files, force, error)
    _fsync_tree(staging)
    kill_point("staged")
    if not os.path.lexists(target):
        os.rename(staging, target)
    elif _exchange(staging, target):
        kill_point("swapped")  # `staging` now holds the old directory
        _fsync_dir(target.parent)
        _discard(staging)  # a staging name: never restored, even half deleted
    else:
        move_aside_then_rename(staging, target)
    _fsync_dir(target.parent)
    return target


def move_aside_then_rename(staging: Path, target: Path) -> None:
    """The fallback where directories cannot be exchanged: two renames, old one kept aside.

    Between them `target` is missing; `recover(target)` restores the aside copy after a kill.
    """
    aside = target.parent / (_prefix(target, ASIDE, os.getpid()) + _token())
    os.rename(target, aside)
    kill_point("aside")
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(aside, target)  # put the old one back rather than leave neither
        raise
    _fsync_dir(target.parent)
    # Renamed to a staging name first: `recover` must never restore a half-deleted copy.
    old = target.parent / (_prefix(target, PARTIAL, os.getpid()) + _token())
    os.rename(aside, old)
    _discard(old)


def recover(target: str | os.PathLike[str]) -> bool:
    """Move a set-aside copy back to a missing `target` (a run was killed mid-replace).

    Only copies of processes that are gone count; True when one was restored.
    """
    target = Path(target)
    if os.path.lexists(target):
        return False
    asides = [p for p, pid in _leftovers(target, ASIDE) if not _alive(pid)]
    if not asides:
        return False
    try:
        newest = max(asides, key=lambda p: p.stat().st_mtime)
        os.rename(newest, target)
    except OSError:
        return False  # not ours to move (permissions): the reader reports the missing target
    return True


def clean_stale(target: str | os.PathLike[str]) -> None:
    """Restore a set-aside `target` (`recover`), then delete the leftovers of killed runs.

    Safe after `recover`: what is left of a gone process is an unfinished staging folder, an
    old copy already replaced, or (when `target` was never written) a staging folder.
    Best effort: a leftover that cannot be removed stays for the next run.
    """
    target = Path(target)
    recover(target)
    for kind in (PARTIAL, ASIDE):
        for path, pid in _leftovers(target, kind):
            if not _alive(pid):
                _discard(path)


def remove_tree(path: Path) -> None:
    """Delete a directory tree (a link is unlinked, never followed).

    Written out rather than shutil.rmtree so the crash tests can kill it midway: what is
    left is a leftover folder that `clean_stale` finishes.
    """
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
        return
    for root, dirs, files in os.walk(path, topdown=False):
        for name in files:
            os.unlink(os.path.join(root, name))
            kill_point("cleanup")
        for name in dirs:
            sub = os.path.join(root, name)
            if os.path.islink(sub):
                os.unlink(sub)
            else:
                os.rmdir(sub)
    os.rmdir(path)


def _discard(path: Path) -> None:
    """`remove_tree`, best effort: the new directory is in place whatever happens here, and
    a leftover that cannot be removed now (permissions) is retried by the next run."""
    with contextlib.suppress(OSError):
        remove_tree(path)


def kill_point(phase: str) -> None:
    """SIGKILL this process when $TINYAI_TEST_KILL_AT names `phase`: the crash tests' hook."""
    if os.environ.get(_KILL_ENV) == phase:
        os.kill(os.getpid(), signal.SIGKILL)


# ------------------------------------------------------------------------------- internals
def _prefix(target: Path, kind: str, pid: int) -> str:
    return f".{target.name}.{kind}-{pid}-"


def _token() -> str:
    return secrets.token_hex(4)


def _leftovers(target: Path, kind: str) -> list[tuple[Path, int]]:
    """(path, pid) of `target`'s hidden siblings of one kind."""
    head = f".{target.name}.{kind}-"
    try:
        names = os.listdir(target.parent)
    except OSError:
        return []
    found = []
    for name in names:
        pid = name[len(head):].split("-", 1)[0]
        if name.startswith(head) and pid.isdigit():
            found.append((target.parent / name, int(pid)))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths atomically; False where this system cannot."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in _NO_EXCHANGE:
        return False
    raise OSError(err, os.strerror(err), str(b))


@functools.cache
def _renameat2() -> Callable[..., int] | None:
    """glibc's renameat2 (2.28+), or None off Linux or on an older libc."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def _fsync_tree(root: Path) -> None:
    """Flush every file and folder under `root`, so a power cut after the rename keeps them."""
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        _fsync_dir(Path(folder))


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # e.g. Windows cannot open a directory; its renames are journaled anyway
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
