"""Writing a learner's files safely: check where a result goes before the work, then write it atomically.

Nothing a learner made is lost: an existing file is replaced only when asked (``overwrite=True``), never
through a symbolic link, never when it is the input being read, and a file that appears while the work runs is
left alone (the result goes to a temporary file in the same folder first, then takes the name in one step that
refuses to replace anything).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
INVERSION_SUFFIXES = (".safetensors",)


def expand_user(path) -> Path:
    """``path`` with a leading ``~`` or ``~user`` made the home folder; left as it is when there is no such user
    (Path.expanduser raises RuntimeError then: the file is simply not found, with the loader's own message)."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        return Path(path)


class OutputPathError(ValueError):
    """Where a result should go is not usable; the message says why and what to do."""


def _as_path(path) -> Path:
    if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)):
        raise OutputPathError(f"the output path must be a file name (a string or a Path), got {type(path).__name__}")
    text = os.fspath(path)
    if not str(text).strip():
        raise OutputPathError("the output path is empty; give a file name such as result.png")
    if "\0" in str(text):
        raise OutputPathError("the output path contains a NUL character; give a plain file name")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in str(text)):
        raise OutputPathError(f"the output path {str(text)!r} holds a control character (a line break?); remove it")
    if str(text).endswith(tuple(sep for sep in (os.sep, os.altsep) if sep)):
        raise OutputPathError(f"{text} ends in a slash, so it names a folder; give a file name such as result.png")
    if Path(text).name in ("", ".", ".."):  # "." is the current folder (Path(".").name is empty)
        raise OutputPathError(f"{text} names a folder; give a file name such as result.png")
    return expand_user(text)


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except (OSError, ValueError):
        return False


def _file_above(folder: Path) -> Path | None:
    """The first part of ``folder``'s path that exists and is not a folder (a file, a named pipe, a device: so the
    folder can't exist), or None."""
    for p in [*reversed(folder.parents), folder]:
        try:
            if p.exists() and not p.is_dir():
                return p
        except OSError:
            return None
    return None


def check_output_path(
    path, *, suffixes: Iterable[str] | None = None, overwrite: bool = False, inputs: Iterable = ()
) -> Path:
    """The output ``path`` as a Path once it is safe to write there, else an :class:`OutputPathError`."""
    if not isinstance(overwrite, bool):  # "no" is truthy: only a real yes may replace a file
        raise ValueError(f"overwrite must be True or False, got {overwrite!r}")
    out = _as_path(path)
    if inputs is None or isinstance(inputs, (str, bytes, os.PathLike)):  # one input: a string is not a list of them
        inputs = () if inputs is None else (inputs,)
    try:
        inputs = list(inputs)
    except TypeError:
        raise ValueError(f"inputs must be a list of the input files' paths, got {type(inputs).__name__}") from None
    if suffixes is not None:
        suffixes = tuple(suffixes)
        if out.name.lower() in suffixes:  # ".safetensors" alone: Path sees a hidden file with no suffix
            raise OutputPathError(f"{out.name} is only an extension; give a name such as result{out.name.lower()}")
        if out.suffix.lower() not in suffixes:
            raise OutputPathError(
                f"{out.name} does not end in {' or '.join(suffixes)}, the kind of file written here; "
                f"use a name such as result{suffixes[0]}"
            )
    folder = out.parent
    try:
        folder_stat = folder.stat()
    except (FileNotFoundError, NotADirectoryError):
        folder_stat = None
    except OSError as e:  # a name too long for the file system, a loop of links: one line, not pathlib's OSError
        shown = str(folder) if len(str(folder)) <= 120 else str(folder)[:60] + "..." + str(folder)[-40:]
        advice = "a shorter" if e.errno == errno.ENAMETOOLONG else "another"
        raise OutputPathError(
            f"the folder {shown} cannot be used ({e.strerror or e}); choose {advice} output path"
        ) from None
    if folder_stat is None or not folder.is_dir():
        if (above := _file_above(folder)) is not None:
            kind = "a file" if above.is_file() else "a named pipe" if above.is_fifo() else "a device or a socket"
            raise OutputPathError(f"{above} is {kind}, not a folder; choose another output path")
        raise OutputPathError(f"the folder {folder} does not exist; create it first or choose another output path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputPathError(f"the folder {folder} is not writable; choose another output path")
    try:
        name_max = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        name_max = 255
    if len(os.fsencode(out.name)) > name_max:
        raise OutputPathError(f"the file name is {len(out.name)} characters long, over this file system's {name_max}")
    if out.is_symlink():
        raise OutputPathError(f"{out} is a symbolic link; this course never writes through links: give a plain path")
    for source in inputs:
        if isinstance(source, bytes):
            source = os.fsdecode(source)
        if source is not None and isinstance(source, (str, os.PathLike)) and _same_file(out, Path(source)):
            raise OutputPathError(f"{out} is the input file; choose another output path so that it is kept")
    if out.exists():
        if not out.is_file():
            raise OutputPathError(f"{out} exists and is not a regular file; choose another output path")
        if not overwrite:
            raise OutputPathError(
                f"{out} exists; choose another output path or allow overwriting it (overwrite=True, or --force on "
                "the command line)"
            )
    return out


def write_atomically(path, write: Callable[[Path], None], *, overwrite: bool = False) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path`` (same suffix), then give it the name ``path``.

    Without ``overwrite`` the last step refuses to replace a file that appeared meanwhile; with it, a regular
    file is replaced in one step (a symbolic link there is refused, never followed).
    """
    out = check_output_path(path, overwrite=overwrite)
    fd, name = tempfile.mkstemp(prefix=f".{out.stem[:40]}.", suffix=f".tmp{out.suffix}", dir=out.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp made it private (0600); a saved file gets the usual mode
        if overwrite:
            check_output_path(out, overwrite=True)  # still not a link, folder, ...
            os.replace(tmp, out)
        else:
            _create_exclusively(tmp, out)
    except FileExistsError:
        raise OutputPathError(
            f"{out} appeared while the work ran; it was left as it is and the result was not saved: "
            "choose another output path"
        ) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _create_exclusively(tmp: Path, out: Path) -> None:
    """Give ``tmp``'s content the name ``out`` only if nothing has that name (a hard link, or an O_EXCL copy)."""
    try:
        os.link(tmp, out)  # atomic; fails with FileExistsError when anything (even a dangling link) is there
        return
    except FileExistsError:
        raise
    except OSError:  # file systems without hard links
        pass
    with open(tmp, "rb") as src, open(out, "xb") as dst:
        try:
            shutil.copyfileobj(src, dst)
        except BaseException:  # a full disk or Ctrl-C part-way: no half-written file under the final name
            dst.close()
            out.unlink(missing_ok=True)
            raise


def _interrupt(signum, frame):
    raise KeyboardInterrupt


@contextlib.contextmanager
def stops_as_interrupt():
    """While the block runs (in the main thread), SIGTERM and SIGHUP, which a closed terminal, ``timeout`` or a job
    scheduler send, raise KeyboardInterrupt as Ctrl-C does, so that the block's own cleanup runs (Python would end
    at once, leaving a half-written folder). A signal already handled or ignored (``nohup`` ignores SIGHUP) is left
    as it is; the handlers before are put back afterwards."""
    import signal
    import threading

    kept = {}
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGTERM", "SIGHUP"):
            sig = getattr(signal, name, None)  # Windows has no SIGHUP
            if sig is not None and signal.getsignal(sig) is signal.SIG_DFL:  # `nohup` ignores SIGHUP: left so
                kept[sig] = signal.signal(sig, _interrupt)
    try:
        yield
    finally:
        for sig, handler in kept.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def work_folder(out, prefix: str) -> tuple[Path, bool]:
    """A hidden folder inside ``out`` (made if missing) to build a result in, and whether ``out`` was made here.
    Inside, not beside: the same file system as ``out`` (a mount point, a Docker volume), and ``out`` itself, its
    mode and any file of the learner's in it are left as they are."""
    out = Path(out)
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=out)), made


def swap_in_folder(work, out, *, replace_all: bool = False) -> None:
    """Move the finished entries of ``work`` (a ``work_folder`` of ``out``) into ``out``, each one replacing the
    entry of that name; with ``replace_all``, every other entry of ``out`` goes too (a folder the tool owns whole).
    The old entries are set aside first and removed only once the new ones are in place; ``work`` is removed."""
    work, out = Path(work), Path(out)
    old = Path(tempfile.mkdtemp(prefix=".old-", dir=out))
    new = sorted(os.listdir(work))
    going = [n for n in os.listdir(out) if replace_all or n in new]
    going = [n for n in going if (out / n) not in (work, old)]
    for name in going:
        os.replace(out / name, old / name)
    for name in new:
        os.replace(work / name, out / name)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)


def discard_work(work, out, made: bool) -> None:
    """After Ctrl-C or an error: remove ``work``, and ``out`` too if it was made for this run and is empty."""
    shutil.rmtree(work, ignore_errors=True)
    if made:
        with contextlib.suppress(OSError):
            Path(out).rmdir()  # only when empty


def stdout_to_devnull() -> None:
    """After stdout's pipe was closed early (``| head -1``): point it at /dev/null, so that Python's flush at exit
    raises no second BrokenPipeError."""
    import sys

    with contextlib.suppress(OSError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def run_script(main) -> None:
    """The entry of a script that prints tables (``bench``, ``pocket.evaluate``): SIGTERM and SIGHUP stop it as
    Ctrl-C does (a child it runs is stopped too), and each way it can end early is one line, not a traceback:
    Ctrl-C ("interrupted", status 130), its output pipe closed early (``| head -1``: quiet, status 1) or a full disk
    (status 1)."""
    import sys

    try:
        with stops_as_interrupt():
            main()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        stdout_to_devnull()
        sys.exit(1)
    except OSError as e:  # the disk or the output is full, ...
        print(f"error: {e.strerror or e}", file=sys.stderr)
        sys.exit(1)
