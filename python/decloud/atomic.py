"""Never lose or fake data: atomic outputs, verified raster writes, inputs never overwritten, folder locks.

One place for these rules (every stage uses them):

- :func:`atomic_output` yields a temporary path beside the target (same folder, so the final rename is atomic),
  named ``.<target name>.<host>-<pid>-<random>.part<suffix>``: two runs, even of the same command at the same
  time, never share one. On success it is renamed over the target; on any exception, ``KeyboardInterrupt`` or
  ``SystemExit`` it is removed and the previous file at the target is left untouched. A temporary file left by a
  process killed with ``kill -9`` (its pid no longer runs on this host) is removed by the next write of the same
  target, or when a run takes the folder's lock.
- :func:`write_app` writes a pyotb app's output and checks it before anyone renames it: a GDAL error during
  the write (a full disk: OTB itself exits 0 with only a message), or a file that GDAL cannot open or whose
  last block of a band cannot be read, is a :class:`~decloud.errors.DecloudIOError` naming the output and
  the cause (an :class:`~decloud.errors.OTBAppIOError`, naming the app, when the app's write failed).
- :func:`app_failure` turns the exception pyotb raises for a failed application into an
  :class:`~decloud.errors.OTBAppError` naming the app (and the parameter or input at fault when known), whose
  message is OTB's own error line (:func:`app_error`); the caller chains pyotb's (``raise ... from e``).
- :func:`refuse_input_as_output` refuses an output path that is one of the inputs (same path, symbolic link or
  hard link) before anything runs; :func:`check_otb_output` refuses a ``?`` in an OTB output path (OTB would
  read what follows as extended filename options and write somewhere else).
- :func:`folder_lock` makes a stage the only writer of its output folder: a lock file with the pid, host and
  command, held with ``fcntl.flock`` (released by the kernel when the process dies, so the lock of a dead
  process is simply taken over); a second run says which process holds it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import re
import secrets
import shutil
import socket
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from .errors import (
    DecloudBusyError,
    DecloudInputError,
    DecloudIOError,
    OTBAppError,
    OTBAppInputError,
    OTBAppIOError,
)

log = logging.getLogger(__name__)

LOCK_NAME = ".decloud.lock"
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<host>[A-Za-z0-9-]*)-(?P<pid>\d+)-(?P<token>[0-9a-f]{8})\.part"
                        r"(?P<suffix>\.[A-Za-z0-9]+)?$")
_live: set[Path] = set()  # temporary paths of this process, removed again on an interrupted exit
_live_lock = threading.Lock()


# ----------------------------------------------------------------------------------------------- temporary files


def host_tag() -> str:
    """This host's name as it appears in temporary names: letters, digits and dashes, at most 24 characters."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname().split(".")[0])[:24] or "host"


def temporary_path(target: str | Path) -> Path:
    """A fresh temporary path beside ``target`` (same folder), unique to this process and call."""
    target = Path(target)
    return target.with_name(f".{target.name}.{host_tag()}-{os.getpid()}-{secrets.token_hex(4)}.part"
                            f"{target.suffix}")


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _remove(path: Path) -> None:
    """Remove a temporary file or folder and the side files GDAL may add (``<name>.aux.xml``, ``.ovr``)."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        for side in path.parent.glob(glob_escape(path.name) + ".*"):
            side.unlink(missing_ok=True)
    except OSError as e:  # never hide the error that brought us here
        log.warning("%s: could not remove this temporary file: %s", path, e)


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def remove_stale_temporaries(folder: str | Path, target: str | Path | None = None) -> list[Path]:
    """Remove the temporary files (and folders) in ``folder`` left by processes of this host that no longer run
    (killed with ``kill -9``, or a crashed machine's previous boot); only those of ``target`` if given."""
    folder = Path(folder)
    removed: list[Path] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    me = host_tag()
    for name in names:
        m = _TEMPORARY.match(name)
        if not m or m["host"] != me or (target is not None and m["name"] != Path(target).name):
            continue
        pid = int(m["pid"])
        if pid != os.getpid() and not _pid_running(pid):
            _remove(folder / name)
            removed.append(folder / name)
    if removed:
        log.info("%s: removed %d temporary file(s) of runs that no longer run", folder, len(removed))
    return removed


def remove_live_temporaries() -> None:
    """Remove the temporary files of this process's unfinished writes (before an exit on a signal)."""
    with _live_lock:
        paths = list(_live)
    for path in paths:
        _remove(path)


def _replace_folder(tmp: Path, target: Path) -> None:
    """Put folder ``tmp`` at ``target``; an existing ``target`` is moved aside first and removed after."""
    if target.exists() or target.is_symlink():
        old = temporary_path(target)
        try:
            os.replace(target, old)
            os.replace(tmp, target)
        except BaseException:  # an error or a signal between the two renames: the old folder goes back
            if old.exists() and not target.exists():
                os.replace(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, target)


@contextmanager
def atomic_output(target: str | Path, *, folder: bool = False) -> Iterator[Path]:
    """Write ``target`` through a temporary path beside it: ``with atomic_output(out) as tmp: write(tmp)``.

    On success ``tmp`` is renamed over ``target`` (a folder when ``folder`` is true: created empty, and an
    existing target folder is replaced); on any exception, ``KeyboardInterrupt`` or ``SystemExit`` ``tmp`` is
    removed and whatever was at ``target`` stays as it was. Errors of the rename are :class:`DecloudIOError`.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DecloudIOError(f"{target.parent}: cannot create the output folder: {e.strerror or e}") from e
    remove_stale_temporaries(target.parent, target)
    tmp = temporary_path(target)
    with _live_lock:
        _live.add(tmp)
    try:
        if folder:
            tmp.mkdir()
        yield tmp
        if not (tmp.exists() or tmp.is_symlink()):
            raise DecloudIOError(f"{target}: nothing was written")
        try:
            if folder:
                _replace_folder(tmp, target)
            else:
                os.replace(tmp, target)
                for side in tmp.parent.glob(glob_escape(tmp.name) + ".*"):  # GDAL's <name>.aux.xml
                    os.replace(side, target.with_name(target.name + side.name[len(tmp.name):]))
        except OSError as e:
            raise DecloudIOError(f"{target}: cannot be put in place: {e.strerror or e}") from e
    except BaseException:
        _remove(tmp)
        raise
    finally:
        with _live_lock:
            _live.discard(tmp)


def write_text(path: str | Path, text: str, *, what: str = "file") -> Path:
    """Write a text file atomically; a failure (full disk...) is one :class:`DecloudIOError` line."""
    path = Path(path)
    try:
        with atomic_output(path) as tmp:
            with open(tmp, "w") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
    except OSError as e:
        if isinstance(e, DecloudIOError):
            raise
        raise DecloudIOError(f"{path}: cannot write the {what}: {e.strerror or e}") from e
    return path


def write_json(path: str | Path, data, *, what: str = "file", indent: int = 2) -> Path:
    return write_text(path, json.dumps(data, indent=indent, default=str), what=what)


# ----------------------------------------------------------------------------------------------- output paths


def _plain(path) -> str | None:
    """The file path of an input given as a path (an in-memory pyotb app has none); extended filename dropped."""
    if isinstance(path, Path):
        return str(path)
    if isinstance(path, str):
        return path.split("?&", 1)[0]
    return None


def _file_keys(path: str) -> list[tuple]:
    keys: list[tuple] = [("path", os.path.realpath(path))]
    try:
        st = os.stat(path)
        keys.append(("inode", st.st_dev, st.st_ino))
    except OSError:
        pass
    return keys


def refuse_input_as_output(outputs: str | Path | list, inputs: Mapping[str, object]) -> None:
    """Raise :class:`DecloudInputError` when an output path is one of ``inputs`` (``name -> path, list of paths
    or in-memory app``): the same path once links are resolved, or the same inode (a hard link)."""
    outputs = [outputs] if isinstance(outputs, (str, Path)) else list(outputs)
    known: dict[tuple, tuple[str, str]] = {}
    for name, value in inputs.items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            path = _plain(item)
            if path:
                for key in _file_keys(path):
                    known.setdefault(key, (name, path))
    for out in outputs:
        for key in _file_keys(str(out)):
            if key in known:
                name, path = known[key]
                raise DecloudInputError(f"{out}: this output is the input {name} ({path}); writing it would "
                                        "destroy that input: choose another output path")


def check_otb_output(path: str | Path) -> None:
    """Refuse an output path that OTB would not write as given (``?`` starts its extended filename options)."""
    if "?" in str(path):
        raise DecloudInputError(f"{path}: an output path cannot contain '?' (OTB reads what follows as extended "
                                "filename options and would write another file)")


# ----------------------------------------------------------------------------------------------- raster writes


@contextmanager
def capture_gdal_errors(*, all_threads: bool = False) -> Iterator[list[str]]:
    """GDAL errors (CE_Failure and worse) raised during the block, collected instead of printed: those of this
    thread, and with ``all_threads`` also those of threads without a handler of their own (OTB's reading
    threads), through GDAL's process-wide handler (set back to GDAL's default at the end)."""
    from osgeo import gdal  # noqa: PLC0415

    errors: list[str] = []

    def handler(err_class, err_no, message):
        if err_class >= gdal.CE_Failure:
            errors.append(str(message).strip())
        elif err_class == gdal.CE_Warning:
            log.debug("GDAL: %s", message)

    if all_threads:
        gdal.SetErrorHandler(handler)
    gdal.PushErrorHandler(handler)
    try:
        yield errors
    finally:
        gdal.PopErrorHandler()
        if all_threads:
            gdal.SetErrorHandler("CPLDefaultErrorHandler")


_SYSTEM_REASONS = ("No space left", "File too large", "Disk quota", "Input/output error", "Permission denied",
                   "Read-only file system")


def _system_reason(messages: list[str]) -> str | None:
    """The system's reason (``No space left on device``) that one of the messages gives, if any."""
    for message in messages:
        for reason in _SYSTEM_REASONS:
            if reason in message:
                return message[message.index(reason):].strip()
    return None


def output_done(path: str | Path, redo: str = "redoing it") -> bool:
    """Whether an output of a resumable run is there and complete (:func:`verify_raster`); an unreadable one is
    reported (``"<why>; <redo>"``) and counts as not done, to be written again."""
    if not Path(path).exists():
        return False
    try:
        verify_raster(path)
    except DecloudIOError as e:
        log.warning("%s; %s", e, redo)
        return False
    return True


def verify_raster(path: str | Path, *, name: str | Path | None = None) -> None:
    """Open ``path`` with GDAL and read the last block of each band (and of each overview): a truncated or
    unreadable file is a :class:`DecloudIOError` naming ``name`` (default: ``path``)."""
    from osgeo import gdal  # noqa: PLC0415

    name = name or path
    with capture_gdal_errors() as errors:
        try:
            ds = gdal.OpenEx(str(path), gdal.OF_RASTER)
            if ds is None:
                raise RuntimeError(errors[-1] if errors else "GDAL cannot open it")
            for b in range(1, ds.RasterCount + 1):
                band = ds.GetRasterBand(b)
                for level in [band] + [band.GetOverview(k) for k in range(band.GetOverviewCount())]:
                    bx, by = level.GetBlockSize()
                    w, h = level.XSize, level.YSize
                    x0, y0 = (w - 1) // bx * bx, (h - 1) // by * by
                    if level.ReadRaster(x0, y0, min(bx, w - x0), min(by, h - y0)) is None or errors:
                        raise RuntimeError(errors[-1] if errors else f"band {b} cannot be read")
            ds = None
        except RuntimeError as e:
            raise DecloudIOError(f"{name}: the written file is incomplete or unreadable: "
                                 f"{_system_reason(errors) or (errors[0] if errors else e)}") from e


def write_app(app, path: str | Path, *, pixel_type: str, ext_fname: str = "", name: str | Path | None = None,
              ) -> Path:
    """Write a pyotb app's output to ``path`` (normally a temporary path of :func:`atomic_output`) and check it.

    The write runs in a worker thread (:func:`decloud.interrupts.run_in_thread`), so that SIGINT / SIGTERM stop
    the command at once instead of aborting it inside OTB's Python log callback. A GDAL error during the write,
    an exception of the app, or a file that :func:`verify_raster` rejects is a :class:`DecloudIOError`
    naming ``name`` (the final output; default ``path``) and the cause; for the first two it is an
    :class:`OTBAppIOError` naming the app, with the app's exception (if any) chained.
    """
    from .interrupts import run_in_thread  # noqa: PLC0415

    name = name or path
    check_otb_output(name)
    check_otb_output(path)

    def write() -> tuple[list[str], Exception | None]:
        with capture_gdal_errors(all_threads=True) as errors:
            try:
                app.write(str(path), pixel_type=pixel_type, ext_fname=ext_fname or None)
            except Exception as e:  # noqa: BLE001 - pyotb wraps OTB's exception in a RuntimeError
                return list(errors), e
        return list(errors), None

    errors, exception = run_in_thread(write, on_abandon=lambda: _remove(Path(path)))
    failure = app_error(exception) if exception is not None else None
    if failure or errors:
        cause = _system_reason([*errors, failure or ""])
        if cause is None:  # OTB's context, then GDAL's reason
            cause = f"{failure.rstrip(' :')}: {errors[0]}" if failure and errors else failure or errors[0]
        raise OTBAppIOError(f"{name}: writing failed: {cause}", app=getattr(app, "name", None)) from exception
    verify_raster(path, name=name)
    return Path(path)


def app_error(e: Exception) -> str:
    """The meaningful line of an OTB/pyotb exception text, without ITK's object address."""
    text = [line for line in str(e).strip().splitlines() if line.strip()]
    fatal = [line for line in text if "(FATAL)" in line or "ERROR" in line or "Exception" in line]
    line = (fatal or text or [type(e).__name__])[-1]
    line = line.split("(FATAL)")[-1].split(": ", 1)[-1].strip() if "(FATAL)" in line else line
    line = re.sub(r"itk::ERROR: \w+\(0x[0-9a-fA-F]+\): ", "", line)
    return line.replace("otb::ApplicationException", "").strip()


def app_failure(e: Exception, app: str, *, key: str | None = None, prefix: str | None = None,
                error: type[OTBAppError] = OTBAppInputError) -> OTBAppError:
    """The :class:`OTBAppError` (``error``: :class:`OTBAppInputError` by default, the application refused an input)
    for ``e``, the exception pyotb raised when the OTB application ``app`` failed; ``key``: the parameter or input
    at fault, when known. Its message is ``prefix`` then OTB's own line (:func:`app_error`); ``prefix`` None: the
    app's name, unless the line begins with it. Raise it ``from e``, which keeps pyotb's exception as the cause."""
    message = app_error(e)
    if prefix is None:
        prefix = "" if message.startswith(app) else f"{app}: "
    return error(prefix + message, app=app, key=key)


# ----------------------------------------------------------------------------------------------- folder locks


_held: dict[str, list] = {}  # realpath of a lock file -> [fd, depth], for nested locks of one process
_held_lock = threading.Lock()


def command_line() -> str:
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv and sys.argv[0] else "python"


def _read_holder(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return json.loads(os.read(fd, 65536).decode() or "{}")
    except (OSError, ValueError):
        return {}


def _describe(holder: dict) -> str:
    who = holder.get("command") or "another run"
    where = f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}"
    since = f", since {holder['started']}" if holder.get("started") else ""
    return f"{who} ({where}{since})"


@contextmanager
def folder_lock(folder: str | Path, command: str | None = None) -> Iterator[Path]:
    """Hold ``<folder>/.decloud.lock`` for the block: the folder's only writer is this process.

    Another process holding it: :class:`DecloudBusyError` naming it (command, pid, host). A lock left by a
    process that died is taken over (the kernel released its ``flock``); so are the temporary files that
    processes of this host that no longer run left in ``folder``. Nested locks of one process are allowed.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DecloudIOError(f"{folder}: cannot create the output folder: {e.strerror or e}") from e
    path = folder / LOCK_NAME
    key = os.path.realpath(path)
    with _held_lock:
        if key in _held:
            _held[key][1] += 1
            nested = True
        else:
            nested = False
    if nested:
        try:
            yield path
        finally:
            with _held_lock:
                _held[key][1] -= 1
        return
    fd = _acquire(path, folder)
    previous = _read_holder(fd)
    if previous.get("pid") and (previous.get("pid") != os.getpid() or previous.get("host") != socket.gethostname()):
        log.warning("%s: took over the lock of %s, which no longer runs", folder, _describe(previous))
    me = {"pid": os.getpid(), "host": socket.gethostname(), "command": command or command_line(),
          "started": datetime.now().isoformat(timespec="seconds")}
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, (json.dumps(me) + "\n").encode())
    with _held_lock:
        _held[key] = [fd, 1]
    try:
        remove_stale_temporaries(folder)
        yield path
    finally:
        with _held_lock:
            del _held[key]
        try:
            path.unlink(missing_ok=True)  # while still holding it: a waiting opener of this inode retries
        finally:
            os.close(fd)


def _acquire(path: Path, folder: Path) -> int:
    for _ in range(100):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise DecloudIOError(f"{path}: cannot create the lock file: {e.strerror or e}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            holder = _read_holder(fd)
            os.close(fd)
            raise DecloudBusyError(f"{folder}: in use by {_describe(holder)}; wait for it to end or stop it "
                                   f"(lock file {path})") from e
        except OSError as e:
            if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                os.close(fd)
                raise DecloudIOError(f"{path}: cannot lock: {e.strerror or e}") from e
            _check_unlocked_holder(fd, path, folder)  # no flock on this file system: go by the recorded pid
            return fd
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # the previous holder removed the file between our open and our lock: take the new one
    raise DecloudBusyError(f"{folder}: cannot take the lock {path} (it keeps changing)")


def _check_unlocked_holder(fd: int, path: Path, folder: Path) -> None:
    holder = _read_holder(fd)
    if not holder.get("pid") or holder.get("pid") == os.getpid():
        return
    if holder.get("host") == socket.gethostname() and not _pid_running(int(holder["pid"])):
        return
    os.close(fd)
    raise DecloudBusyError(f"{folder}: in use by {_describe(holder)}; wait for it to end, or remove {path} "
                           "if that process is gone")
