"""Checks for the exercises: compare a learner's function with the reference and say how far off it is.

Each ``check_*`` returns a :class:`CheckResult` that shows as "PASS: ..." or "FAIL: ..." in a notebook and is
truthy when the answer is right. The reference solutions are the package's own functions. An answer passes only
if it is a finite, real value of the right shape that is close to the reference: NaN, inf, complex numbers, whole
numbers, None and the like always fail, with a message that says where and what was returned. A float numpy array
counts as a tensor of its values.

Each answer runs in a thread of its own, with a time limit; what it returned is read there as plain data (the
grading never runs the answer's own classes), and what it changed in torch, Python's builtins, the package, the
checks or the random streams is put back, failing the answer (a change found at the check's end fails it too).
While a check runs, its answer cannot list other threads' frames or the garbage collector's objects, where the
expected values are, in the plain ways (:data:`_PEEPHOLES`). The checks are a learning aid, not a sandbox: an answer
set on cheating can still find a way round.
"""

from __future__ import annotations

import builtins
import contextlib
import ctypes
import functools
import gc
import html
import io
import numbers
import operator
import random
import sys
import threading
import time
import types
import weakref
from dataclasses import dataclass

import numpy as np
import torch

from .ddim import _whole, ddim_step, ddim_update
from .i18n import tr
from .images import _huge_int, _odd_tensor, _repr
from .metrics import psnr

TIME_LIMIT = 10.0
"""Seconds one call of the learner's function may take before the check gives up on it."""
TOTAL_TIME_LIMIT = 30.0
"""Seconds all the calls of one check may take together (a check calls the answer up to nine times)."""
OUTPUT_LIMIT = 10_000
"""Characters of what the answer prints that a check shows (megabytes of it would freeze the notebook's page)."""
# the running check's "deadline" (time.monotonic()) and "output" (_capture_output), set by _kept_intact; changed in
# place only (a name rebound would count as the package changed)
_BUDGET: dict = {}
# the threads answers run in (_call), and every thread started while a check ran (an answer's own): a check called
# in one of them grades nothing (see _kept_intact)
_ANSWER_THREADS: weakref.WeakSet = weakref.WeakSet()
# held while a check runs: one check at a time (two at once shared one deadline, one capture of the output, and one
# snapshot of torch's settings, and passed or failed each other's answers)
_ONE_CHECK = threading.Lock()


class _CappedOutput(io.TextIOBase):
    """Where the answer's prints (or its warnings) go during a check: the first ``OUTPUT_LIMIT`` characters the
    check's streams take together (``count``, shared) are kept, the rest counted."""

    def __init__(self, count: list[int]):
        self.parts, self.count = [], count  # count: [kept, dropped]

    def writable(self) -> bool:
        return True

    def write(self, text) -> int:
        text = str(text)
        room = max(OUTPUT_LIMIT - self.count[0], 0)
        if room:
            self.parts.append(text[:room])
        self.count[0] += min(len(text), room)
        self.count[1] += len(text) - min(len(text), room)
        return len(text)

    def flush_to(self, stream) -> None:
        """Show what was kept since the last flush (after each call of the answer)."""
        if self.parts and stream is not None and stream is not self:  # no stream at all under pythonw
            stream.write("".join(self.parts))
        self.parts.clear()


def _capture_output() -> dict:
    """The learner's streams swapped for capped ones, for the whole of a check; ``_release_output`` puts them back."""
    count = [0, 0]
    taken = {"real": (sys.stdout, sys.stderr), "printed": (_CappedOutput(count), _CappedOutput(count)), "count": count}
    sys.stdout, sys.stderr = taken["printed"]
    return taken


def _flush_output() -> None:
    """Show what the answer printed since the last call (inside a check), on the learner's own streams."""
    taken = _BUDGET.get("output")
    if taken is not None:
        for printed, real in zip(taken["printed"], taken["real"]):
            printed.flush_to(real)


def _release_output(taken: dict) -> None:
    sys.stdout, sys.stderr = taken["real"]
    for printed, real in zip(taken["printed"], taken["real"]):
        printed.flush_to(real)
    if taken["count"][1] and taken["real"][0] is not None:
        count = f"{taken['count'][1]:,}"
        taken["real"][0].write(tr("output_cut", count=count, limit=f"{OUTPUT_LIMIT:,}"))


@dataclass
class CheckResult:
    """A check's verdict: truthy when the answer is right; shows as PASS or FAIL and a message."""

    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return tr("PASS" if self.passed else "FAIL") + ": " + self.message

    def _repr_html_(self) -> str:
        word, colour = (tr("PASS"), "#1a7f37") if self.passed else (tr("FAIL"), "#cf222e")
        return f'<p><b style="color: {colour}">{word}:</b> {html.escape(self.message)}</p>'


class _Other:
    """Stands for a returned value that no check grades (a generator, a dict, an object of the answer's own class):
    it keeps only the words that name it ("a dict"), so that grading never runs that value's own code."""

    __slots__ = ("what",)

    def __init__(self, what: str):
        self.what = what


_TYPE_NAME = type.__dict__["__name__"]  # read from the type itself: a metaclass's own __name__ is not asked


def _type_name(t) -> str:
    """A type's name as a plain str of 60 characters at most (a class may be renamed to a str subclass)."""
    try:
        return str.__getitem__(_TYPE_NAME.__get__(t), slice(0, 60))
    except Exception:  # noqa: BLE001 - a name that cannot be read is not the learner's problem to see
        return "object"


# numpy's own number types (their values are read in C, never by code of the answer's)
_NUMPY_NUMBERS = frozenset(t for t in set(np.sctypeDict.values()) if issubclass(t, (np.number, np.bool_)))
# by id: a membership test by hash would ask a metaclass's own __hash__
_EXACT = {id(t): t for t in (bool, int, float, complex, *_NUMPY_NUMBERS)}


def _what(x) -> str:
    """Name a returned value in a message: 'None', 'a list', 'float 50.0', 'a torch.int64 tensor'... Decided by the
    value's exact type: what an answer returned is plain data by now (:func:`_plain`), and anything else (the
    object given instead of a function) is named by its type, without running its own code."""
    t = type(x)
    if x is None:
        return "None"
    if t is _Other:
        return x.what
    if t is torch.Tensor:
        return tr("what_tensor", dtype=x.dtype)
    if issubclass(t, torch.Tensor):
        try:
            return tr("what_tensor", dtype=torch.Tensor.as_subclass(x, torch.Tensor).dtype)
        except (RuntimeError, NotImplementedError):  # a sparse subclass
            return tr("what_a", name=_type_name(t))
    if issubclass(t, np.ndarray):
        return tr("what_numpy")
    if t is int and _huge_int(x):
        return _repr(x)
    if id(t) in _EXACT:
        return f"{t.__name__} {x}"
    return tr("what_a", name=_type_name(t))


def _plain(x, nested: bool = True):
    """What an answer returned, as plain data the grading can read without running the answer's code again.

    Runs in the answer's thread, so within its time limit and with torch and the package guarded. Decided by the
    exact type (never isinstance, which asks the object's own ``__class__``): a tensor becomes a copy that is an
    ordinary torch.Tensor (a subclass's own methods then grade nothing), a list or tuple the same of its items
    (read as a plain list or tuple is read), a number of another class the number float() or operator.index()
    gives here, a numpy array a copy of its values; anything else becomes an :class:`_Other` that only names it.
    """
    t = type(x)
    if x is None or id(t) in _EXACT:
        return x
    if t is types.CoroutineType:  # an `async def` answer: its body never ran
        types.CoroutineType.close(x)  # closed unstarted: no "never awaited" warning, none of its code runs
        return _Other("a coroutine (define your function with def, not async def)")
    if t is torch.Tensor:
        return x.detach().clone()  # a copy: a thread the answer left running can't change it while it is graded
    if issubclass(t, torch.Tensor):
        if torch._C._dispatch_keys(x).has(torch._C.DispatchKey.Python):  # read in C: nothing of the class runs
            # a __torch_dispatch__ subclass: every operation on it, even as_subclass or clone, runs its own code
            return _Other(f"a {_type_name(t)} (a tensor class that runs its own code for every operation)")
        try:
            x = torch.Tensor.as_subclass(x, torch.Tensor)  # an ordinary tensor: its class's own code is left behind
        except (RuntimeError, NotImplementedError):  # a sparse subclass has no storage to share
            return _Other(f"a {_type_name(t)}")
        return x.detach().clone()
    if issubclass(t, np.ndarray):
        values = np.ndarray.view(x, np.ndarray)
        return np.ndarray.copy(values) if values.dtype.kind in "biufc" else _Other("a numpy array")
    if nested and issubclass(t, (list, tuple)):  # one level: a trajectory of latents, a pair (x, y)
        kind = list if issubclass(t, list) else tuple
        return kind([_plain(item, nested=False) for item in kind.__iter__(x)])
    if issubclass(t, numbers.Integral):
        return operator.index(x)  # an int subclass: the number it indexes with, not what its __int__ says
    if issubclass(t, numbers.Real):
        try:
            return float(x)
        except OverflowError:  # Fraction(10**400): no float holds it
            return float("inf")
    if issubclass(t, numbers.Complex):
        return complex(x)
    return _Other(f"a {_type_name(t)}")


MAX_ERROR_TEXT = 300
"""Characters of an exception's message that a check shows."""


def _error_text(error: BaseException) -> str:
    """``"TypeName: message"`` of an exception the answer raised, cut to ``MAX_ERROR_TEXT``; read in the answer's
    thread (its ``__str__`` is the answer's code)."""
    name = _type_name(type(error))
    try:
        text = str(error)
        cut = str.__getitem__(text, slice(0, MAX_ERROR_TEXT))  # a plain str, even if __str__ gave a subclass
        text = cut + ("..." if len(cut) < str.__len__(text) else "")
    except Exception:  # noqa: BLE001 - its message is the answer's code, which may fail too
        text = "(its message could not be read)"
    return f"{name}: {text}"


def _copy(arg):
    """What an answer is given: a copy of a tensor or list (its in-place changes can then be seen, and do no harm)."""
    if isinstance(arg, torch.Tensor):
        return arg.detach().clone()
    return list(arg) if isinstance(arg, list) else arg


def _changed(given, kept) -> bool:
    if isinstance(kept, torch.Tensor):
        return not (isinstance(given, torch.Tensor) and given.shape == kept.shape and torch.equal(given, kept))
    return isinstance(kept, list) and given != kept


def _call(fn, args, where, names: tuple[str, ...] = (), *, quiet: bool = False, limit: float | None = None):
    """Run ``fn(*args)`` with a time limit: ``(result, None)``, or ``(None, a message saying what went wrong)``.

    ``where`` is the case's words in a message ("at t=500"), or a function that gives them once the call is over.

    The answer gets copies of the tensors and lists in ``args``; one it changed in place (``names``: the arguments'
    names, for the message) fails: the caller's own tensor would have been changed. The result is plain data
    (:func:`_plain`), made in the answer's thread; what the answer changed in torch, Python's builtins, the package
    or the random streams is put back (:func:`_snapshot`), and a change of the first three fails. What the answer
    prints is shown after it (``quiet``: not at all), up to ``OUTPUT_LIMIT`` characters a check. ``limit``: the
    seconds this call may take instead of ``TIME_LIMIT`` (a call that runs the answer many times)."""
    if not callable(fn):  # the function's result (check_psnr(my_psnr(a, b))) or a number instead of the function
        return None, tr("not_a_function", what=_what(fn))
    outcome = {}
    kept, args = list(args), [_copy(a) for a in args]
    put_back = _snapshot()  # a function of its own: the answer may replace this module's names, not it

    def run():
        try:
            try:
                outcome["result"] = _plain(fn(*args))  # here: within the time limit and the guard
            except BaseException as e:  # noqa: BLE001 - reported below, or raised again if it is not an Exception
                outcome["error"] = e
                outcome["text"] = _error_text(e)
        except BaseException:  # noqa: BLE001, S110 - stopped while reading its message: the check says why
            pass

    deadline = _BUDGET.get("deadline")
    per_call = TIME_LIMIT if limit is None else limit
    wait = per_call if deadline is None else max(0.0, min(per_call, deadline - time.monotonic()))
    thread = threading.Thread(target=run, daemon=True)  # a daemon thread: one that never ends can't block exit
    _ANSWER_THREADS.add(thread)
    quieted = None
    if quiet and "output" in _BUDGET:  # its prints go nowhere (the check's streams are captured: see _kept_intact)
        quieted, dropped = (sys.stdout, sys.stderr), _CappedOutput([OUTPUT_LIMIT, 0])
        sys.stdout = sys.stderr = dropped
    try:
        thread.start()
        thread.join(wait)
    except BaseException:  # the learner pressed Stop while the answer ran: stop it too, not only the wait
        _end(thread)
        put_back()
        raise
    finally:
        if quieted is not None and sys.stdout is dropped:  # only its own swap: an outer check may be done already
            sys.stdout, sys.stderr = quieted
        if not quiet:
            _flush_output()
    if thread.is_alive():
        ended = _end(thread)  # it stops at its next line of Python; then what it changed is put back
        put_back()
        where = where() if callable(where) else where
        still = "" if ended else tr("still_running")
        if limit is not None or wait < per_call:  # the check's calls together ran past their limit
            return None, tr("took_too_long_in_all", where=where, limit=f"{TOTAL_TIME_LIMIT:g}") + still
        return None, tr("took_too_long", where=where, limit=f"{TIME_LIMIT:g}") + still
    setting, changed_torch, changed_code = put_back()
    where = where() if callable(where) else where
    if setting:
        return None, tr("changed_torch_setting", where=where, name=setting)
    if changed_torch:  # torch.Tensor.abs replaced by a function that returns 0 would make every answer pass
        return None, tr("changed_torch", where=where, name=changed_torch)
    if changed_code:  # builtins.any or this module's _grade replaced: the grading itself would lie
        return None, tr("changed_code", where=where, name=changed_code)
    error = outcome.get("error")
    if error is None:
        for name, given, original in zip(names or [f"#{i + 1}" for i in range(len(args))], args, kept):
            if _changed(given, original):
                return None, tr("changed_input", where=where, name=name)
        return outcome.get("result"), None
    if isinstance(error, KeyboardInterrupt):  # the learner pressed stop: not an answer to grade
        raise error if type(error) is KeyboardInterrupt else KeyboardInterrupt()
    return None, tr("raised", where=where, error=outcome.get("text", _type_name(type(error))))


def _guarded_attributes() -> list[tuple[object, dict]]:
    """What the grading and the package call: torch's functions, the tensor methods and torch.nn.functional (a copy
    of each namespace)."""
    return [(space, dict(vars(space))) for space in (torch, torch.Tensor, torch.nn.functional)]


def _guarded_modules() -> list[tuple[str, dict, dict, bool]]:
    """The module namespaces the grading runs on, as ``(name, its dict, a copy, whether added names are taken
    away)``: Python's builtins first (the code that puts the rest back looks names up there), then every loaded
    module of this package (an answer that rebinds ``ddim_course.ddim.ddim_update`` would change the reference; a
    name added to a module would hide a builtin of the same name)."""
    spaces = [("builtins", vars(builtins), False)]
    for name, module in list(sys.modules.items()):
        if (name == "ddim_course" or name.startswith("ddim_course.")) and type(module) is types.ModuleType:
            spaces.append((name, vars(module), True))
    return [(name, space, dict(space), drop) for name, space, drop in spaces]


_MISSING = object()


def _put_back_modules(kept, missing=_MISSING, modules=sys.modules) -> str | None:
    """Restore the module namespaces of :func:`_guarded_modules`; the first changed name, or None. Only dict
    operations and syntax until builtins are back (the answer may have replaced ``setattr`` or ``isinstance``)."""
    first = None
    for label, now, before, _ in kept:
        for name, value in before.items():
            if name == "__warningregistry__":  # the warnings module's own record, kept where a warning points
                continue
            if now.get(name, missing) is not value:
                now[name] = value
                if first is None:
                    first = label + "." + name
    for label, now, before, drop in kept:
        if drop:
            for name in [n for n in now if n not in before and n != "__warningregistry__"]:
                submodule = type(name) is str and modules.get(label + "." + name) is now[name]
                if not submodule:  # a submodule imported meanwhile is the import system's, not the answer's
                    first = first or (label + "." + name if type(name) is str else label)
                    del now[name]
    return first


# torch's global settings an answer could change for the rest of the learner's session, by the function that sets
# each (grad mode is the answer thread's own): (how to read it, how to set it)
_SETTINGS = {
    "torch.set_default_dtype": (torch.get_default_dtype, torch.set_default_dtype),
    "torch.set_num_threads": (torch.get_num_threads, torch.set_num_threads),
}


def _torch_settings() -> dict:
    return {name: get() for name, (get, _) in _SETTINGS.items()}


def _put_back_settings(before: dict) -> str | None:
    """Restore the settings an answer changed; the first one's setter, or None."""
    first = None
    for name, (get, put) in _SETTINGS.items():
        if get() != before[name]:
            first = first or name
            put(before[name])
    return first


def _put_back(kept: list[tuple[object, dict]]) -> str | None:
    """Restore every attribute of ``kept`` that an answer replaced or deleted, and take away a method it added to a
    class (it would hide the inherited one); the first one's name, or None. Names added to the torch module are
    left: a lazy import (torch._dynamo, ...) adds some."""
    first = None
    for space, before in kept:
        now = vars(space)
        added = [n for n in now if n not in before] if isinstance(space, type) else []
        for name in [n for n, value in before.items() if now.get(n, _MISSING) is not value] + added:
            first = first or f"{getattr(space, '__name__', space)}.{name}"
            if name in before:
                setattr(space, name, before[name])
            else:
                delattr(space, name)
    return first


# the random streams an answer could reseed or draw from, read and set by functions taken now: (get, set)
_STREAMS = (
    (torch.get_rng_state, torch.set_rng_state),
    (random.getstate, random.setstate),
    (np.random.get_state, np.random.set_state),
)


def _snapshot():
    """Take what an answer could change for the grading or for the rest of the learner's session: torch's
    functions and settings, Python's builtins, the package's modules, :class:`CheckResult` and the random streams
    of torch, Python and numpy. Returns the function that puts it all back: ``(first torch setting changed, first
    torch name changed, first builtin, package or CheckResult name changed)``, each None when unchanged.

    The returned function holds its own references to what it calls: an answer that replaced this module's
    ``_put_back`` (say) can't stop its change being put back."""
    modules, attributes, settings = _guarded_modules(), _guarded_attributes(), _torch_settings()
    own = [(CheckResult, dict(vars(CheckResult)))]
    streams = [(put, get()) for get, put in _STREAMS]
    put_back_modules, put_back_settings, put_back = _put_back_modules, _put_back_settings, _put_back

    def restore():
        changed_code = put_back_modules(modules)  # first: what follows looks names up in builtins and here
        setting = put_back_settings(settings)  # before torch's names: torch.set_default_dtype rebinds torch.Storage
        changed_torch, changed_class = put_back(attributes), put_back(own)
        for put, state in streams:  # an answer that drew numbers or reseeded leaves the learner's streams as they were
            put(state)
        return setting, changed_torch, changed_code or changed_class

    return restore


# What lets one thread read another's frames, or the grader's objects, from inside an answer: sys._current_frames
# (every thread's stack, the check's own locals with the expected values among them), the garbage collector's lists
# of objects, an audit hook, a monitoring callback or a trace/profile function set on every thread (each runs in the
# check's thread and can read its frames), and code run in another thread or process. While a check runs, each is
# replaced by a stand-in that refuses every thread but the check's (see _close_peepholes). This closes the plain
# ways; it is not a sandbox: an answer can dig the original out of a stand-in, use ctypes, or leave a finaliser or
# a gc callback that runs in the check's thread.
_PEEPHOLES = (
    (sys, "_current_frames"),
    (sys, "_current_exceptions"),
    (sys, "addaudithook"),
    (sys, "_settraceallthreads"),
    (sys, "_setprofileallthreads"),
    (sys, "remote_exec"),
    (getattr(sys, "monitoring", None), "register_callback"),
    (threading, "settrace_all_threads"),
    (threading, "setprofile_all_threads"),
    (gc, "get_objects"),
    (gc, "get_referrers"),
    (gc, "get_referents"),
)
_current_thread = threading.current_thread  # taken now: an answer may replace threading's own


def _stand_in(original, label: str, allowed):
    """``original`` for the threads in ``allowed``, a ``PermissionError`` for any other (the original is held in a
    closure, not shown in the stand-in's signature)."""

    def stand_in(*args, **kwargs):
        if _current_thread() not in allowed:
            raise PermissionError(tr("no_peeking", name=label))
        return original(*args, **kwargs)

    return stand_in


def _close_peepholes(allowed) -> callable:
    """Replace each of :data:`_PEEPHOLES` by a stand-in that raises ``PermissionError`` in any thread not in
    ``allowed`` (the check's own, and a debugger's: a thread pool the learner made earlier would be a way round),
    and snapshot ``gc.callbacks`` (a callback runs in whichever thread collects). Returns the function that puts
    the originals back: the first name that was not the stand-in any more (or a changed ``gc.callbacks``), or
    None."""
    installed, callbacks = [], list(gc.callbacks)
    for space, name in _PEEPHOLES:
        original = getattr(space, name, None) if space is not None else None
        if original is None:  # not in this Python (the all-threads setters and sys.monitoring came in 3.12)
            continue
        label = f"{space.__name__}.{name}"
        stand_in = _stand_in(original, label, allowed)
        setattr(space, name, stand_in)
        installed.append((space, name, original, stand_in, label))

    def reopen():
        first = None
        for space, name, original, stand_in, label in installed:
            if getattr(space, name, None) is not stand_in:
                first = first or label
            setattr(space, name, original)
        if gc.callbacks != callbacks:
            first = first or "gc.callbacks"
            gc.callbacks[:] = callbacks
        return first

    return reopen


def _kept_intact(check):
    """A check that finds, at its end, something changed since its start (a thread the answer started can change
    torch, the package or builtins after the answer returned) puts it back and fails, saying what."""

    @functools.wraps(check)
    def checked(*args, **kwargs):
        if threading.current_thread() in _ANSWER_THREADS:  # check_psnr(my_psnr) pasted inside my_psnr: each call
            # would start another check, and another thread, without end (and go on after the outer check ended)
            return CheckResult(False, tr("check_inside_answer", check=check.__name__))
        if not _ONE_CHECK.acquire(blocking=False):  # another thread's check is running
            return CheckResult(False, tr("check_running", check=check.__name__))
        try:
            if "torch._dynamo" not in sys.modules:  # torch imports it on first use of torch.func and others, and
                with contextlib.suppress(ImportError):  # it rewraps torch.manual_seed: not the answer's change
                    import torch._dynamo  # noqa: F401
            before = set(threading.enumerate())
            # the check's thread, and a debugger's own (JupyterLab's debugger lists every thread's frames)
            debugger = [t for t in before if "pydevd" in type(t).__module__ and t not in _ANSWER_THREADS]
            reopen = _close_peepholes(weakref.WeakSet([_current_thread(), *debugger]))
            try:
                put_back = _snapshot()
                # what the answer prints is shown after each call, up to OUTPUT_LIMIT characters a check
                _BUDGET.update(deadline=time.monotonic() + TOTAL_TIME_LIMIT, output=_capture_output())
                try:
                    result = check(*args, **kwargs)
                finally:
                    _BUDGET.pop("deadline", None)
                    _release_output(_BUDGET.pop("output"))
                    changed = [name for name in put_back() if name]
                    # a thread the answer started and left running grades nothing later either: it would start
                    # checks, and threads, after this one ended
                    _ANSWER_THREADS.update(t for t in threading.enumerate() if t not in before)
            finally:
                opened = reopen()  # the stand-ins go whatever happened above (an error, Stop)
        finally:
            _ONE_CHECK.release()
        changed += [opened] if opened else []
        if changed:
            return CheckResult(False, tr("changed_while_checking", name=changed[0]))
        return result

    return checked


class _TimedOutError(BaseException):  # not an Exception: an answer's own `except Exception` can't swallow it
    """Raised inside a learner's function that ran past ``TIME_LIMIT``, so that it stops using the machine."""


def _stop(thread: threading.Thread) -> None:
    """Ask a thread that ran too long to stop: Python raises ``_TimedOutError`` in it at its next line of Python (a
    single long call into C, such as ``sum(range(10**12))``, still runs to its end first)."""
    if thread.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(_TimedOutError))


STOP_TRIES = 50
"""How many times, 20 ms apart, a check asks an answer that ran too long to stop (a bare ``except:`` catches one)."""


def _end(thread: threading.Thread) -> bool:
    """Ask ``thread`` to stop until it has ended; False if it is still running after ``STOP_TRIES`` requests (it
    catches each one), or is inside one long call into C."""
    for _ in range(STOP_TRIES):
        _stop(thread)
        thread.join(0.02)
        if not thread.is_alive():
            return True
    return False


def _check_atol(atol) -> float:
    """The check's tolerance: a finite number > 0 (an infinite or NaN tolerance would pass anything)."""
    try:
        ok = not isinstance(atol, bool) and isinstance(atol, numbers.Real) and 0 < float(atol) <= 1
    except OverflowError:
        ok = False
    if not ok:
        raise ValueError(f"atol must be a number in (0, 1] (how close an answer must be), got {_what(atol)[:80]}")
    return float(atol)


def _check_schedule(alphas_cumprod, final_alpha_cumprod=1.0, *, length: int = 1000) -> torch.Tensor:
    """The schedule a check grades with: ``length`` finite alphas in (0, 1] (the pipeline's
    ``scheduler.alphas_cumprod``) and a final alpha in (0, 1], or a clear error (a NaN schedule passes anything)."""
    hint = "pass pipe.scheduler.alphas_cumprod"
    if isinstance(alphas_cumprod, np.ndarray):
        if alphas_cumprod.dtype.kind != "f":
            raise ValueError(f"alphas_cumprod must be floats, got a numpy array of {alphas_cumprod.dtype}; {hint}")
        alphas_cumprod = torch.from_numpy(alphas_cumprod)
    if (
        not isinstance(alphas_cumprod, torch.Tensor)
        or _odd_tensor(alphas_cumprod) is not None
        or alphas_cumprod.ndim != 1
        or not alphas_cumprod.is_floating_point()
    ):
        raise ValueError(f"alphas_cumprod must be a 1-D float tensor of {length} values; {hint}")
    if len(alphas_cumprod) < length:
        raise ValueError(f"alphas_cumprod must hold {length} values (one per training step), got {len(alphas_cumprod)}")
    # the check's own copy: an answer that changes the learner's schedule can't change what it is graded against
    a = alphas_cumprod.detach().cpu().clone()
    if not (torch.isfinite(a).all() and (a > 0).all() and (a <= 1).all()):
        raise ValueError(f"alphas_cumprod must be finite values in (0, 1]; {hint}")
    # a noise schedule only adds noise: constant or rising values (betas, alphas, ones) would pass wrong answers
    if (a[1:] > a[:-1]).any() or a[-1] > 0.5:
        raise ValueError(
            "alphas_cumprod must fall from near 1 (clean) to near 0 (noise): values that never rise and end at "
            f"0.5 or below, got {a[0].item():.4g} ... {a[-1].item():.4g}; {hint} (not its betas or alphas)"
        )
    f = final_alpha_cumprod
    if isinstance(f, torch.Tensor) and f.numel() == 1 and not f.is_meta and f.is_floating_point():
        f = float(f)
    if isinstance(f, bool) or not isinstance(f, numbers.Real) or not 0 < f <= 1:  # not float(f): 10**400 overflows
        raise ValueError(
            f"final_alpha_cumprod must be a number in (0, 1] (the scheduler's final_alpha_cumprod), got {str(f)[:40]}"
        )
    return a


def _as_number(got):
    """A returned Python or numpy number as a 0-d float64 tensor; None when it has no float value (too large)."""
    try:
        return torch.tensor(float(got), dtype=torch.float64)
    except (OverflowError, TypeError, ValueError):
        return None


def _tensor_of(got):
    """A graded answer as a tensor: a numpy array (float, as :func:`_grade` let it pass) as a tensor of its values,
    in the machine's byte order (a float128 one as float64); anything else as it is."""
    if type(got) is not np.ndarray:
        return got
    dtype = np.dtype(np.float64) if got.dtype.itemsize > 8 else got.dtype.newbyteorder("=")
    return torch.from_numpy(np.array(got, dtype=dtype, order="C"))


def _grade(name: str, got, expected: torch.Tensor, where: str, *, tensor_only: bool = False):
    """How far ``got`` is from ``expected``: ``(largest difference, None)``, or ``(None, why it can't pass)``.

    Every check grades through here. ``expected`` with no dimensions means the answer is one number. A float numpy
    array is graded as the tensor it holds, unless ``tensor_only``: an answer the notebook goes on to use with the
    model (check_invert's latents, which notebook 03 runs on the UNet next), where an array fails there."""
    number = expected.ndim == 0
    want = tr("want_number") if number else tr("want_tensor", shape=tuple(expected.shape))
    returned = tr("returned", where=where, name=name, what=_what(got))
    if tensor_only and isinstance(got, np.ndarray):
        return None, returned + tr("not_numpy")
    if number and isinstance(got, np.ndarray) and got.size == 1 and got.dtype.kind == "f":
        got = got.reshape(())[()]  # a 0-d or one-element float array is one number, as a 1-element tensor is
    if number and isinstance(got, (complex, np.complexfloating)):
        return None, returned + tr("not_complex", kind=tr("kind_number"))
    if number and isinstance(got, (numbers.Real, np.number)) and not isinstance(got, (bool, np.bool_)):
        as_tensor = _as_number(got)
        if as_tensor is None or not torch.isfinite(as_tensor):
            value = _what(got)[:60] if as_tensor is None else as_tensor.item()
            return None, tr("not_finite_number", where=where, name=name, value=value)
        got = torch.tensor(int(got)) if isinstance(got, (numbers.Integral, np.integer)) else as_tensor
    if not number and type(got) is np.ndarray and got.dtype.kind == "f":
        if got.dtype == np.float16:
            return None, returned + tr("not_half")
        got = _tensor_of(got)  # a float numpy array holds a tensor's values: a right one passes, as in check_psnr
    if not isinstance(got, torch.Tensor):
        return None, returned + (tr("missing_return") if got is None else "") + tr("return_want", want=want)
    if type(got) is not torch.Tensor:
        got = torch.Tensor.as_subclass(got, torch.Tensor)  # a subclass's own max() or comparisons must not grade it
    odd = "meta" if got.is_meta else "nested" if got.is_nested else None
    if odd is None and got.layout != torch.strided:
        odd = str(got.layout).replace("torch.", "")
    if odd is not None:
        return None, tr("not_plain_tensor", where=where, name=name, kind=odd)
    if got.is_complex():
        return None, returned + tr("not_complex", kind=tr("kind_number" if number else "kind_tensor"))
    if not got.is_floating_point():
        return None, returned + tr("not_float")
    if got.dtype.itemsize < 4:  # float16, bfloat16 and the float8 kinds
        return None, returned + tr("not_half")
    if number and got.numel() == 1:
        got = got.reshape(())
    if got.shape != expected.shape:
        return None, tr("wrong_shape", where=where, name=name, shape=tuple(got.shape), want=want)
    got = got.detach().cpu().double()
    if number and not got.isfinite():
        return None, tr("not_finite_number", where=where, name=name, value=got.item())
    counts = {"NaN": got.isnan().sum().item(), "inf": got.isinf().sum().item()}
    if any(counts.values()):
        found = tr("and").join(
            tr("nan_in" if kind == "NaN" else "inf_in", count=count) for kind, count in counts.items() if count
        )
        why = tr("why_nan" if counts["NaN"] else "why_inf")
        return None, tr("not_finite_values", where=where, name=name, found=found, count=got.numel(), why=why)
    return (got - expected.double()).abs().max().item(), None


def _worst_error(name: str, fn, cases, names: tuple[str, ...] = ()):
    """Call ``fn(*args)`` for each ``(key, where, args, expected)``: ``(failed CheckResult, ...)`` at the first
    answer that raised, hung or can't pass, else ``(None, largest error, its case's key, what fn returned there)``.
    """
    worst, worst_key, worst_got = 0.0, None, None
    for key, where, args, expected in cases:
        got, problem = _call(fn, args, where, names)
        if problem is None:
            err, problem = _grade(name, got, expected, where)
        if problem is not None:
            return CheckResult(False, problem), None, None, None
        if err > worst:
            worst, worst_key, worst_got = err, key, got
    return None, worst, worst_key, worst_got


def _schedule_kept(check):
    """A check whose answer changed the learner's ``alphas_cumprod`` or ``final_alpha_cumprod`` tensor in place fails,
    and the values are put back (the check itself grades with its own copy and number, read at its start)."""

    @functools.wraps(check)
    def checked(fn, alphas_cumprod, *args, **kwargs):
        keep = alphas_cumprod.detach().clone() if isinstance(alphas_cumprod, torch.Tensor) else None
        if isinstance(alphas_cumprod, np.ndarray):
            keep = alphas_cumprod.copy()
        final = args[0] if args else kwargs.get("final_alpha_cumprod")
        keep_final = final.detach().clone() if isinstance(final, torch.Tensor) else None
        result = check(fn, alphas_cumprod, *args, **kwargs)
        changed = []
        if isinstance(keep, torch.Tensor) and not _same_tensor(alphas_cumprod, keep):
            _put_values_back(alphas_cumprod, keep)
            changed.append("changed_schedule")
        if isinstance(keep, np.ndarray) and not np.array_equal(alphas_cumprod, keep, equal_nan=True):
            np.copyto(alphas_cumprod, keep)
            changed.append("changed_schedule")
        # after the schedule: a scheduler's final_alpha_cumprod may be a view of alphas_cumprod[0]
        if keep_final is not None and not _same_tensor(final, keep_final):
            _put_values_back(final, keep_final)
            changed.append("changed_final_alpha")
        return CheckResult(False, tr(changed[0])) if changed else result

    return checked


def _same_tensor(now: torch.Tensor, kept: torch.Tensor) -> bool:
    return now.shape == kept.shape and now.dtype == kept.dtype and torch.equal(now.detach(), kept.to(now.device))


def _put_values_back(now: torch.Tensor, kept: torch.Tensor) -> None:
    """Give the learner's tensor ``now`` its kept values again (and its shape and type, if the answer changed them)."""
    with torch.no_grad():
        if now.shape == kept.shape and now.dtype == kept.dtype:
            now.copy_(kept)
        else:
            now.set_(kept.to(now.device).clone())


@_kept_intact
@_schedule_kept
def check_add_noise(add_noise, alphas_cumprod: torch.Tensor, *, atol: float = 1e-5) -> CheckResult:
    """Check ``add_noise(x0, noise, t)`` against x_t = sqrt(a_t) x0 + sqrt(1 - a_t) noise.

    Used in notebook 01.
    """
    atol = _check_atol(atol)
    alphas_cumprod = _check_schedule(alphas_cumprod)
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(1, 4, 8, 8, generator=g), torch.randn(1, 4, 8, 8, generator=g)
    # and a batch of two latents that are not square: an answer that reshapes to (1, 4, 8, 8) can't pass
    wide = torch.randn(2, 4, 6, 10, generator=g), torch.randn(2, 4, 6, 10, generator=g)

    def case(t, x0, noise):
        a = alphas_cumprod[t].double()
        expected = (a.sqrt() * x0.double() + (1 - a).sqrt() * noise.double()).float()
        return t, tr("at_t", t=t), (x0, noise, t), expected

    ts = (0, 1, 250, 500, 750, 999)
    name = tr("your", name="add_noise")
    cases = [case(t, x0, noise) for t in ts] + [case(t, *wide) for t in (1, 500, 999)]
    failed, worst, worst_t, got = _worst_error(name, add_noise, cases, ("x0", "noise"))
    if failed is not None:  # a CheckResult is falsy when it failed
        return failed
    if worst <= atol:  # then every t (an answer right at the few above only can't pass), in one guarded call
        x0, noise = torch.randn(1, 4, 2, 2, generator=g), torch.randn(1, 4, 2, 2, generator=g)
        reached = [0]

        def every_t():
            answers = []
            for t in range(len(alphas_cumprod)):
                reached[0] = t
                answers.append(add_noise(x0.clone(), noise.clone(), t))
            return answers

        # quiet: a print in the answer, shown for the cases above, would be shown 1000 times more; the 1000 calls
        # share what is left of the check's time
        answers, error = _call(every_t, (), lambda: tr("at_t", t=reached[0]), quiet=True, limit=TOTAL_TIME_LIMIT)
        if error:
            return CheckResult(False, error)
        for t, got in enumerate(answers):
            worst, problem = _grade(name, got, case(t, x0, noise)[3], tr("at_t", t=t))
            if problem is not None:
                return CheckResult(False, problem)
            if worst > atol:
                worst_t = t
                break
        else:
            return CheckResult(True, tr("add_noise_pass", count=len(alphas_cumprod), atol=f"{atol:g}"))
    else:
        x0, noise = next(args[:2] for t, _, args, _ in cases if t == worst_t and args[0].shape == got.shape)
    a = alphas_cumprod[worst_t].double()
    mistakes = (
        ("add_noise_no_sqrt", a * x0.double() + (1 - a) * noise.double()),
        ("add_noise_swapped", (1 - a).sqrt() * x0.double() + a.sqrt() * noise.double()),
    )
    hint = tr("add_noise_formula")
    got = _tensor_of(got).detach().cpu().double()
    for mistake, value in mistakes:
        if (got - value).abs().max().item() < atol:
            hint = tr("looks_like", mistake=tr(mistake)) + hint
    if _half_rounded(got, case(worst_t, x0, noise)[3]):
        hint = tr("half_rounded")
    off = tr("off_by", worst=f"{worst:.3g}", where=tr("at_t", t=worst_t))
    return CheckResult(False, off + tr("hint") + hint)


def _half_rounded(got, expected) -> bool:
    """Whether a wrong answer was computed in half precision and cast back to float32: every value of it is a float16
    number (the reference's are not, and it is not all whole numbers) and it is off by no more than float16's
    rounding can make it (1.6% of the largest value). Its formula may well be right: a hint about the formula would
    send the learner to what they got right."""
    got = _tensor_of(got)
    if not isinstance(got, torch.Tensor) or not got.is_floating_point() or got.shape != expected.shape:
        return False
    got, expected = got.detach().cpu().float(), expected.detach().cpu().float()
    on_half_grid = torch.equal(got.half().float(), got) and not torch.equal(expected.half().float(), expected)
    whole = torch.equal(got, got.round())  # zeros, ones, x.round(), x.sign(): float16 numbers too, and no answer
    near = (got - expected).abs().max() <= 2**-6 * expected.abs().max()  # off by rounding, not by a wrong formula
    return on_half_grid and not whole and bool(near)


@_kept_intact
@_schedule_kept
def check_ddim_step(my_step, alphas_cumprod: torch.Tensor, final_alpha_cumprod, *, atol: float = 1e-5) -> CheckResult:
    """Check ``my_step(eps, t, t_prev, x_t)`` (epsilon prediction, eta = 0) against ``ddim_step``.

    Used in notebook 02.
    """
    atol = _check_atol(atol)
    alphas_cumprod = _check_schedule(alphas_cumprod, final_alpha_cumprod)
    # read once, now: an answer that changes the learner's tensor in place can't change what it is graded against
    final = float(final_alpha_cumprod)
    g = torch.Generator().manual_seed(1)

    def case(t, t_prev, shape=(1, 4, 8, 8)):
        x, eps = torch.randn(*shape, generator=g), torch.randn(*shape, generator=g)
        expected = ddim_step(eps, t, t_prev, x, alphas_cumprod, final_alpha_cumprod=final)
        return (t, t_prev), tr("at_step", t=t, t_prev=t_prev), (eps, t, t_prev, x), expected

    # steps 20 apart (a 50-step run), and gaps of 80 and 250: an answer that ignores t_prev can't pass; then a
    # batch of two latents that are not square. Every expected value is made before the answer first runs.
    steps = ((981, 961), (501, 481), (101, 81), (21, 1), (1, -19), (981, 901), (751, 501))
    cases = [case(*s) for s in steps] + [case(*s, shape=(2, 4, 6, 10)) for s in ((501, 481), (1, -19))]
    failed, worst, worst_t, got = _worst_error(tr("your_step"), my_step, cases, ("eps", "t", "t_prev", "x_t"))
    if failed is not None:  # a CheckResult is falsy when it failed
        return failed
    if worst <= atol:
        return CheckResult(True, tr("ddim_step_pass", count=len(steps), atol=f"{atol:g}"))
    t, t_prev = worst_t
    hint = tr("ddim_step_formula")
    if t_prev < 0:
        hint = tr("ddim_step_final") + hint
    worst_case = [e for key, _, _, e in cases if key == worst_t and e.shape == _tensor_of(got).shape]
    if worst_case and _half_rounded(got, worst_case[0]):
        hint = tr("half_rounded")
    off = tr("off_by", worst=f"{worst:.3g}", where=tr("at_step", t=t, t_prev=t_prev))
    return CheckResult(False, off + tr("hint") + hint)


@_kept_intact
def check_start_index(index_for, num_inference_steps: int = 50) -> CheckResult:
    """Check ``index_for(start_step)``: which entry of ``inversion.latents`` sampling from start_step needs.

    ``latents[0]`` is the clean latent and ``latents[k]`` the latent after k inversion steps, n + 1 entries in
    all; a negative index counts from the end, as in Python. Used in notebook 03.
    """
    n = _whole_steps(num_inference_steps)
    if not callable(index_for):
        return CheckResult(False, tr("not_a_function", what=_what(index_for)))
    reached, raised = [0], []

    def every_start_step():  # every one (an answer can't be a table of a few), in one guarded call: fast for 1000
        answers = []
        for s in range(n):
            reached[0] = s
            try:
                answers.append(index_for(s))
            except Exception as e:  # noqa: BLE001 - reported once the answers before it are graded
                raised.append(_error_text(e))
                break
        return answers

    answers, error = _call(every_start_step, (), lambda: tr("for_start_step", s=reached[0]))
    if error:
        return CheckResult(False, error)
    for s, got in enumerate(answers):
        where = tr("for_start_step", s=s)
        if isinstance(got, torch.Tensor) and got.ndim == 0 and not got.is_meta and got.dtype in _INT_DTYPES:
            got = int(got)  # a 0-d integer tensor is a whole number, as everywhere in the package
        if type(got) is np.ndarray and got.ndim == 0 and got.dtype.kind in "iu":
            got = got[()]  # and so is a 0-d integer array (np.array(50 - s)): its numpy integer
        if isinstance(got, bool) or not isinstance(got, (int, np.integer)):
            return CheckResult(False, tr("start_index_not_int", where=where, what=_what(got)))
        got = operator.index(got)  # the number itself: an int subclass can't pass one value and index with another
        index = int(got) + n + 1 if got < 0 else int(got)  # the entry latents[got] is
        if not 0 <= index <= n:
            out_of_range = tr("start_index_out_of_range", where=where, got=_repr(int(got)), count=n + 1, n=n)
            return CheckResult(False, out_of_range)
        right = n - s
        if index != right:
            chose = f"latents[{got}]" + (tr("start_index_that_is", index=index) if index != got else "")
            off = tr("start_index_off", where=where, chose=chose, off=f"{index - right:+d}")
            return CheckResult(False, off + tr("hint") + tr("start_index_hint", n=n))
    if raised:
        return CheckResult(False, tr("raised", where=tr("for_start_step", s=len(answers)), error=raised[0]))
    return CheckResult(True, tr("start_index_pass", n=n))


_INT_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


def _whole_steps(n) -> int:
    n = _whole(n, "num_inference_steps")
    if not 1 <= n <= 1000:
        raise ValueError(f"num_inference_steps must be a whole number in [1, 1000], got {n}")
    return n


def _toy_eps_model():
    """A small non-linear stand-in for the UNet, ``eps_model(latent, t)``: it depends on both, as the UNet does."""
    g = torch.Generator().manual_seed(4)
    weights = torch.randn(4, 4, generator=g, dtype=torch.float64) * 0.6

    def eps_model(x, t):
        if not isinstance(x, torch.Tensor):  # torch's own error would point into this function, not the answer
            raise TypeError(tr("eps_model_tensor", what=_what(x)))
        mixed = torch.einsum("oc,bchw->bohw", weights.to(x.dtype), x)
        return torch.tanh(mixed) * (0.4 + float(t) / 1000)

    return eps_model


def _inversion_trajectory(x0, eps_model, timesteps, alphas_cumprod, final_alpha_cumprod, *, asked_at_from=False):
    """The reference of ``check_invert``: ``invert``'s loop on a given model (a test keeps the two equal).
    ``asked_at_from``: a known mistake instead, the model asked at the timestep each step comes from (0 first)."""
    latents, alpha_from, t_from = [x0], float(final_alpha_cumprod), 0
    for t in reversed(timesteps):
        alpha_t = float(alphas_cumprod[t])
        latents.append(
            ddim_update(eps_model(latents[-1], t_from if asked_at_from else t), latents[-1], alpha_from, alpha_t)
        )
        alpha_from, t_from = alpha_t, t
    return latents


@_kept_intact
@_schedule_kept
def check_invert(my_invert, alphas_cumprod: torch.Tensor, final_alpha_cumprod, *, atol: float = 1e-5) -> CheckResult:
    """Check ``my_invert(x0, eps_model, timesteps) -> latents``: the whole DDIM inversion loop, as ``invert`` runs it.

    ``timesteps`` are the sampler's (noisiest first); ``eps_model(latent, t)`` stands in for the UNet; the answer is
    the trajectory, a list of ``len(timesteps) + 1`` latents from the clean one to the noisiest. Used in notebook 03.
    """
    atol = _check_atol(atol)
    alphas_cumprod = _check_schedule(alphas_cumprod, final_alpha_cumprod)
    final = float(final_alpha_cumprod)  # read once, now, as in check_ddim_step
    eps_model = _toy_eps_model()
    g = torch.Generator().manual_seed(5)
    cases = []  # every expected trajectory is made before the answer first runs
    for n, shape in ((10, (1, 4, 8, 8)), (4, (2, 4, 6, 10))):
        timesteps = [int(t) for t in range(len(alphas_cumprod) // n * (n - 1) + 1, 0, -(len(alphas_cumprod) // n))]
        x0 = torch.randn(*shape, generator=g, dtype=torch.float64)
        cases.append((n, timesteps, x0, _inversion_trajectory(x0, eps_model, timesteps, alphas_cumprod, final)))
    for n, timesteps, x0, expected in cases:
        where = tr("for_n_steps", n=n)
        got, problem = _call(my_invert, (x0, eps_model, list(timesteps)), where, ("x0", "eps_model", "timesteps"))
        if problem is not None:
            return CheckResult(False, problem)
        if isinstance(got, torch.Tensor) and got.shape == x0.shape:
            return CheckResult(False, tr("invert_one_latent", where=where, count=n + 1))
        if not isinstance(got, (list, tuple)):
            return CheckResult(False, tr("invert_not_a_list", where=where, what=_what(got), count=n + 1))
        got = list(got)  # its own elements, counted: a list type whose len() says otherwise is not believed
        if len(got) != n + 1:
            hint = tr("invert_length_hint", n=n)
            if len(got) in (n - 2, n - 1):
                hint = tr("invert_lesson_short", short=n + 1 - len(got)) + hint
            length = tr("invert_length", where=where, got=len(got), count=n + 1)
            return CheckResult(False, length + tr("hint") + hint)
        worst, at = 0.0, 0
        for k, (value, want) in enumerate(zip(got, expected)):
            err, problem = _grade(tr("your", name=f"latents[{k}]"), value, want, where, tensor_only=True)
            if problem is not None:
                return CheckResult(False, problem)
            if err > worst:
                worst, at = err, k
            if err > atol:
                break
        if worst > atol:
            off = tr("invert_off", where=where, worst=f"{worst:.3g}", at=at)
            hint = _invert_hint(at)
            if at == 1 and not _first_step_mistake(got[1], x0, eps_model, timesteps, alphas_cumprod, atol):
                hint = tr("invert_hint_loop")  # the first step starts right: its formula or timestep is what is off
            mistake = _inversion_trajectory(x0, eps_model, timesteps, alphas_cumprod, final, asked_at_from=True)
            errors = [_grade("", v, m, "")[0] for v, m in zip(got, mistake)]
            if all(e is not None and e <= atol for e in errors):
                hint = tr("invert_hint_asked_at_from")  # close to the reference early on: the loop's hint would mislead
            return CheckResult(False, off + tr("hint") + hint)
    return CheckResult(True, tr("invert_pass", atol=f"{atol:g}"))


def _first_step_mistake(value, x0, eps_model, timesteps, alphas_cumprod, atol: float) -> bool:
    """Whether ``value`` (an answer's latents[1]) is the first step taken from a wrong noise level: that of the
    timestep before the cleanest, t - stride < 0, read from the end of the tensor (or alphas_cumprod[-1]),
    alphas_cumprod[0], or the step's own (no move at all)."""
    t = timesteps[-1]  # the cleanest
    eps = eps_model(x0, t)
    stride = timesteps[-2] - t if len(timesteps) > 1 else 1
    starts = [float(alphas_cumprod[i]) for i in (t - stride, -1, 0, t)]
    wrong = [ddim_update(eps, x0, a, float(alphas_cumprod[t])) for a in starts]
    errors = [_grade("", value, w, "")[0] for w in wrong]
    return any(e is not None and e <= atol for e in errors)


def _invert_hint(at: int) -> str:
    if at == 0:
        return tr("invert_hint_clean")
    if at == 1:
        return tr("invert_hint_first")
    return tr("invert_hint_loop")


@_kept_intact
def check_psnr(my_psnr, *, atol: float = 1e-3) -> CheckResult:
    """Check ``my_psnr(a, b)`` (tensors in [0, 1]) against ``ddim_course.psnr``.

    Used in notebook 04.
    """
    atol = _check_atol(atol)
    g = torch.Generator().manual_seed(2)
    a = torch.rand(3, 16, 16, generator=g)

    def case(scale, peak=1.0, shape=None):
        # images of two sizes, one of them not square: an answer that divides by 3 * 16 * 16 can't pass
        x = (a if shape is None else torch.rand(*shape, generator=g)) * peak
        # a dark pair (peak 0.5): the peak of PSNR is 1, not the images' own maximum
        y = (x + scale * torch.randn(x.shape, generator=g)).clamp(0, peak)  # never equal to x: PSNR is finite
        return scale, tr("for_noise", scale=scale), (x, y), torch.tensor(psnr(x, y), dtype=torch.float64)

    scales = (0.01, 0.1, 0.3, 0.05)
    cases = [case(0.01), case(0.1, shape=(3, 12, 20)), case(0.3), case(0.05, peak=0.5, shape=(3, 12, 20))]
    failed, worst, worst_scale, got = _worst_error(tr("your", name="psnr"), my_psnr, cases, ("a", "b"))
    if failed is not None:  # a CheckResult is falsy when it failed
        return failed
    if worst <= atol:
        return CheckResult(True, tr("psnr_pass", count=len(scales), atol=f"{atol:g}"))
    expected = next(e for s, _, _, e in cases if s == worst_scale).item()
    where = tr("for_noise", scale=worst_scale)
    off = tr("psnr_off", where=where, got=f"{float(got):.3f}", expected=f"{expected:.3f}")
    return CheckResult(False, off + tr("hint") + tr("psnr_formula"))


@_kept_intact
def check_edict_inverse_step(my_inverse, *, atol: float = 1e-6) -> CheckResult:
    """Check ``my_inverse(x_prev, y_prev, model, a, b, p) -> (x, y)``: it must undo ``exact.edict_step``.

    Used in notebook 08. ``model`` is a small non-linear stand-in for the UNet; the cases use a step near the
    clean end, one near the noisy end, and a strong mixing weight (p = 0.5)."""
    from .exact import edict_step

    atol = _check_atol(atol)
    g = torch.Generator().manual_seed(3)
    weights = torch.randn(4, 4, generator=g, dtype=torch.float64) * 0.7

    def model(z):  # mixes the 4 channels, then squashes: non-linear, as a UNet is
        return torch.tanh(torch.einsum("oc,bchw->bohw", weights.to(z.dtype), z))

    cases = []  # made before the answer first runs; the second is a batch of two latents that are not square
    one, two = (1, 4, 8, 8), (2, 4, 6, 10)
    for a, b, p, shape in ((1.01, -0.02, 0.93, one), (1.6, -0.9, 0.93, two), (1.2, -0.3, 0.5, one)):
        x, y = torch.randn(2, *shape, generator=g, dtype=torch.float64)
        cases.append((a, b, p, x, y, *edict_step(x, y, model, a, b, p)))
    for a, b, p, x, y, x_prev, y_prev in cases:
        where = tr("for_abp", a=a, b=b, p=p)
        got, problem = _call(my_inverse, (x_prev, y_prev, model, a, b, p), where, ("x_prev", "y_prev"))
        if problem is not None:
            return CheckResult(False, problem)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return CheckResult(False, tr("edict_not_a_pair", where=where, what=_what(got)))
        errors = {}
        for name, value, want in (("x", got[0], x), ("y", got[1], y)):
            err, problem = _grade(tr("your", name=name), value, want, where)
            if problem is not None:
                return CheckResult(False, problem)
            errors[name] = err
        if max(errors.values()) > atol:
            hint = tr("edict_hint")
            swapped = all(
                v.shape == w.shape and (v.double() - w).abs().max() <= atol
                for v, w in ((_tensor_of(got[0]).detach().cpu(), y), (_tensor_of(got[1]).detach().cpu(), x))
            )
            if swapped:
                hint = tr("edict_swapped")
            off = tr("edict_off", where=where, x=f"{errors['x']:.3g}", y=f"{errors['y']:.3g}")
            return CheckResult(False, off + tr("hint") + hint)
    return CheckResult(True, tr("edict_pass", atol=f"{atol:g}"))


@_kept_intact
def check_blend_mask(my_blend_mask) -> CheckResult:
    """Check ``my_blend_mask(word_maps, threshold) -> mask``: local blend's mask, as ``attention.blend_mask``.

    Used in notebook 07. ``word_maps`` is (batch, h, w); the answer is a float tensor (batch, 1, h, w) of 0 and 1.
    The cases have maps that do not fall to 0 away from the word (as the pocket model's), batches of two and three,
    and maps that are not square."""
    from .attention import blend_mask

    g = torch.Generator().manual_seed(7)
    cases = []  # each expected mask is made before the answer first runs
    for threshold, floor, shape in ((0.3, 0.6, (2, 8, 8)), (0.5, 0.0, (3, 6, 10)), (0.7, 2.0, (2, 8, 8))):
        # the maps of a batch have their own floor and range: each is stretched on its own
        scales = torch.tensor([1.0, 0.2, 0.5][: shape[0]])
        floors = torch.tensor([floor + d for d in (0, 3, 1.5)][: shape[0]])
        maps = torch.rand(*shape, generator=g) ** 3 * scales[:, None, None] + floors[:, None, None]
        where = tr("for_threshold", threshold=threshold, low=f"{floor:g}", high=f"{floor + 3.2:g}")
        cases.append((threshold, where, maps, blend_mask(maps, threshold)))
    worst = 0.0
    for threshold, where, maps, expected in cases:
        got, problem = _call(my_blend_mask, (maps, threshold), where, ("word_maps",))
        if problem is None:
            err, problem = _grade(tr("your_mask"), got, expected, where)
        if problem is not None:
            return CheckResult(False, problem)
        if err > 0:
            got = _tensor_of(got).detach().cpu()  # a GPU answer is compared with the masks made here, on the CPU
            by_max = (maps / maps.flatten(1).amax(1)[:, None, None] > threshold).float()[:, None]
            hint = tr("blend_hint_stretch")
            if torch.equal(got.float(), by_max):
                hint = tr("blend_hint_max_only")
            elif torch.equal(got.float(), 1 - expected):
                hint = tr("blend_hint_inverted")
            wrong = int((got.float() != expected).sum())
            differ = tr("blend_differ", where=where, wrong=wrong, count=expected.numel())
            return CheckResult(False, differ + tr("hint") + hint)
        worst = max(worst, err)
    return CheckResult(True, tr("blend_pass"))
