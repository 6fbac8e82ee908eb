"""The guard array module: NumPy dressed as a device array library, for the CPU test run.

A CuPy array refuses to become a host NumPy array behind the code's back, and every read of a
device value on the host (``float(loss)``, ``if (x > 0).any():``) makes the host wait for the GPU.
Neither shows on a CPU, where CuPy cannot run; the guard makes both show there. The test suite's
``xp`` fixture runs every test body that takes it on ``"guard"`` beside ``"numpy"`` (and
``"cupy"`` where a GPU is present), so on every machine:

- ``GuardArray`` wraps a NumPy array. It is not an ndarray subclass: NumPy converts a subclass to
  a plain array silently (``np.asarray``, ``np.ascontiguousarray``), a wrapper it must ask. A
  conversion to a host array (``np.asarray``, ``np.array``, any NumPy function or ufunc) raises
  ``DeviceArrayError`` (a TypeError, as CuPy raises), and so does an operator or a ``guard_xp``
  function given a host NumPy array: CuPy takes only scalars beside its own arrays. A host array
  may index a guard array or be assigned into one, as CuPy copies it over.
- What makes a GPU synchronise works and is counted: ``float()``, ``int()``, ``bool()``,
  ``.item()``, ``.tolist()``, ``.get()`` (and so ``numnet.backend.to_numpy``), formatting,
  boolean-mask indexing, ``nonzero``/``unique``. ``count_host_syncs()`` collects them, each
  with the line that caused it, so a test can assert how many a training step makes.
- ``guard_xp`` is the array module: NumPy's names, whose functions take guard arrays and return
  them (a reduction returns a 0-d array, as CuPy's do). ``numnet.backend.get_array_module``
  returns it for guard arrays (``GuardArray.__numnet_array_module__``).

``guard_xp`` leaves out the NumPy names CuPy 14 lacks (``vecdot``, ``errstate``, ...). What the
guard cannot see: function arguments CuPy does not take, CuPy's wrap-around of out-of-range
integer indices, and speed. ``benchmarks/gpu_check.py`` runs the
suite on CuPy itself where a GPU is present.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import os
import sys
import types

import numpy as np

__all__ = ["DeviceArrayError", "GuardArray", "count_host_syncs", "guard_xp"]

_HERE = os.path.abspath(__file__)
_BACKEND = os.path.join("numnet", "backend.py")
#: numpy functions that only read metadata (CuPy serves them too): allowed on guard arrays.
_METADATA = {np.shape, np.ndim, np.size, np.result_type}
#: guard_xp functions that make CuPy synchronise (their output size depends on the data).
_SYNCING = {"nonzero", "argwhere", "flatnonzero", "unique", "compress", "extract"}
#: Attributes that hand out host memory of the wrapped array.
_HOST_VIEWS = {"data", "ctypes", "flat"}
#: NumPy's public names that CuPy 14 does not have (cupy-cuda12x 14.2.0 against numpy 2.4: the
#: names of ``dir(numpy)`` missing from ``dir(cupy)``); ``guard_xp`` has none of them either, so
#: ``getattr(xp, "vecdot", None)`` takes CuPy's branch on the guard too.
_CUPY_LACKS = {
    "": frozenset(
        "False_ ScalarType True_ asmatrix block bmat busday_count busday_offset busdaycalendar "
        "bytes_ char character clongdouble complex256 core ctypeslib datetime64 "
        "datetime_as_string datetime_data dtypes einsum_path emath errstate f2py flexible "
        "float128 frompyfunc fromregex geomspace get_include getbufsize geterr geterrcall "
        "histogram_bin_edges info insert is_busday isnat little_endian longdouble ma matrix "
        "matvec memmap nanpercentile nanquantile ndenumerate nditer nested_iters object_ polyder "
        "polydiv polyint rec recarray record sctypeDict setbufsize seterr seterrcall "
        "show_runtime spacing str_ strings test timedelta64 typecodes unstack vecdot vecmat "
        "void".split()
    ),
    ".random": frozenset(
        "MT19937 PCG64 PCG64DXSM Philox SFC64 SeedSequence bit_generator get_bit_generator "
        "get_state mtrand set_bit_generator set_state test".split()
    ),
}


class DeviceArrayError(TypeError):
    """A guard (device) array met host NumPy: a stray ``np.`` call or a host array in the math."""


class HostSyncs:
    """The host synchronisations seen inside one ``count_host_syncs()`` block.

    Attributes:
        events: one line per synchronisation: what it was and the source line that caused it.
        uploads: the byte size of every host array copied onto the device (``xp.asarray``).
    """

    def __init__(self):
        self.events: list[str] = []
        self.uploads: list[int] = []

    @property
    def count(self) -> int:
        """How many synchronisations were seen."""
        return len(self.events)


_ACTIVE: list[HostSyncs] = []


def _caller() -> str:
    """``file:line`` of the code that caused a sync: the first frame outside the guard/backend."""
    f = sys._getframe(2)
    while f is not None:
        name = f.f_code.co_filename
        if os.path.abspath(name) != _HERE and not name.endswith(_BACKEND):
            return f"{os.path.basename(name)}:{f.f_lineno}"
        f = f.f_back
    return "?"


def _sync(what: str) -> None:
    if _ACTIVE:
        event = f"{what} at {_caller()}"
        for counter in _ACTIVE:
            counter.events.append(event)


def _upload(a: np.ndarray) -> None:
    for counter in _ACTIVE:
        counter.uploads.append(int(a.nbytes))


@contextlib.contextmanager
def count_host_syncs():
    """Collect the host synchronisations of guard arrays made inside the block.

    Yields:
        A ``HostSyncs``; ``.count`` and ``.events`` are final when the block ends.
    """
    counter = HostSyncs()
    _ACTIVE.append(counter)
    try:
        yield counter
    finally:
        _ACTIVE.remove(counter)


def _host_array_error(where: str, a: np.ndarray) -> DeviceArrayError:
    return DeviceArrayError(
        f"{where} got a host NumPy array (shape {a.shape}, dtype {a.dtype}) beside device "
        "arrays; CuPy refuses it: move it with xp.asarray"
    )


def _dev(obj, where: str, host_ok: bool = False):
    """``obj`` with guard arrays unwrapped (in lists and tuples too); host arrays refused."""
    t = type(obj)
    if t is GuardArray:
        return obj._a
    if isinstance(obj, np.ndarray):
        if host_ok:
            return obj
        raise _host_array_error(where, obj)
    if t is list or t is tuple:
        return t(_dev(o, where, host_ok) for o in obj)
    return obj


def _guards(args, kwargs) -> list[GuardArray]:
    """The guard arrays among the arguments (for ``out=`` and no-copy results)."""
    found = [a for a in args if type(a) is GuardArray]
    found += [v for v in kwargs.values() if type(v) is GuardArray]
    out = kwargs.get("out")
    if type(out) is tuple:
        found += [o for o in out if type(o) is GuardArray]
    return found


def _wrap(obj, keep=()):
    """NumPy results as guard arrays (a NumPy scalar becomes a 0-d array, as on CuPy).

    ``keep``: guard arrays whose own wrapped array is returned as the guard array itself (an
    ``out=`` argument, ``astype(copy=False)``), so identity survives as it does on CuPy.
    """
    if isinstance(obj, np.ndarray):
        for g in keep:
            if g._a is obj:
                return g
        return GuardArray(obj)
    if isinstance(obj, np.generic):
        return GuardArray(np.asarray(obj))
    if type(obj) is list or type(obj) is tuple:
        return type(obj)(_wrap(o, keep) for o in obj)
    return obj


def _operand(other, op: str):
    if type(other) is GuardArray:
        return other._a
    if isinstance(other, np.ndarray):
        raise _host_array_error(f"operator {op}", other)
    if type(other) is list or type(other) is tuple:
        raise DeviceArrayError(f"operator {op} got a {type(other).__name__}; CuPy refuses it")
    return other


def _index(key):
    """An index with guard arrays unwrapped; a boolean mask counts as a sync (CuPy counts it)."""
    parts = key if type(key) is tuple else (key,)
    out = []
    for k in parts:
        if type(k) is GuardArray:
            k = k._a
        elif type(k) is list:
            k = np.asarray(k)
        if isinstance(k, np.ndarray) and k.dtype == np.bool_ and k.ndim > 0:
            _sync("boolean-mask indexing")
        out.append(k)
    return tuple(out) if type(key) is tuple else out[0]


class GuardArray:
    """A NumPy array that behaves, towards the host, like a CuPy array (see the module)."""

    __slots__ = ("_a",)
    __array_ufunc__ = None  # np.exp(g) raises; np.float32(2) * g falls back to g.__rmul__
    __hash__ = None

    def __init__(self, a: np.ndarray):
        self._a = a

    # ----------------------------------------------------------- refused conversions
    def __array__(self, dtype=None, copy=None):
        raise DeviceArrayError(
            "a guard (device) array was converted to a host NumPy array (np.asarray, np.array "
            "or a NumPy function on it); CuPy refuses this. Use xp in the math, or .get() / "
            "numnet.backend.to_numpy for a deliberate copy"
        )

    def __array_function__(self, func, types, args, kwargs):
        if func in _METADATA:
            return func(*_dev(args, func.__name__, True), **kwargs)
        raise DeviceArrayError(
            f"np.{func.__name__} was called on a guard (device) array; use xp.{func.__name__}"
        )

    def __getattr__(self, name):
        if name.startswith("__") or name == "_a":
            raise AttributeError(name)
        if name in _HOST_VIEWS:
            raise DeviceArrayError(f".{name} would hand out the host memory of a device array")
        attr = getattr(self._a, name)
        if not callable(attr):
            return _wrap(attr)

        def method(*args, **kwargs):
            a = _dev(args, f".{name}()")
            kw = {k: _dev(v, f".{name}()") for k, v in kwargs.items()}
            return _wrap(attr(*a, **kw), (self, *_guards(args, kwargs)))

        method.__name__ = name
        return method

    # -------------------------------------------------------- container protocol
    def __len__(self):
        return len(self._a)

    def __iter__(self):
        for row in self._a:
            yield _wrap(row)

    def __getitem__(self, key):
        return _wrap(self._a[_index(key)])

    def __setitem__(self, key, value):
        self._a[_index(key)] = _dev(value, "assignment", host_ok=True)

    def __contains__(self, value):
        _sync("'in'")
        return _operand(value, "in") in self._a

    # ------------------------------------------------------------ counted syncs
    def __float__(self):
        _sync("float()")
        return float(self._a)

    def __int__(self):
        _sync("int()")
        return int(self._a)

    def __index__(self):
        _sync("index()")
        return self._a.__index__()

    def __bool__(self):
        _sync("bool()")
        return bool(self._a)

    def __complex__(self):
        _sync("complex()")
        return complex(self._a)

    def __format__(self, spec):
        _sync("format()")
        return format(self._a, spec)

    def item(self, *args):
        """The element as a Python scalar (a host sync)."""
        _sync(".item()")
        return self._a.item(*args)

    def tolist(self):
        """The array as nested Python lists (a host sync)."""
        _sync(".tolist()")
        return self._a.tolist()

    def tobytes(self, order="C"):
        """The raw bytes (a host sync)."""
        _sync(".tobytes()")
        return self._a.tobytes(order)

    def get(self, stream=None, order="C", out=None, blocking=True):
        """A host NumPy copy, as ``cupy.ndarray.get`` (a host sync)."""
        _sync(".get()")
        return np.array(self._a, order=order, copy=True)

    def nonzero(self):
        """Indices of the non-zero elements (a host sync: the count sizes the output)."""
        _sync(".nonzero()")
        return _wrap(self._a.nonzero())

    # ------------------------------------------------------------------- misc
    def __repr__(self):
        return "guard_" + repr(self._a)

    def __str__(self):
        return str(self._a)

    def __copy__(self):
        return GuardArray(self._a.copy())

    def __deepcopy__(self, memo):
        return GuardArray(copy.deepcopy(self._a, memo))


def _binary(name: str):
    def op(self, other):
        result = getattr(self._a, name)(_operand(other, name))
        return result if result is NotImplemented else _wrap(result)

    op.__name__ = name
    return op


def _inplace(name: str):
    def op(self, other):
        getattr(self._a, name)(_operand(other, name))
        return self

    op.__name__ = name
    return op


def _unary(name: str):
    def op(self):
        return _wrap(getattr(self._a, name)())

    op.__name__ = name
    return op


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or",
              "xor", "lshift", "rshift", "divmod"):  # fmt: skip
    setattr(GuardArray, f"__{_name}__", _binary(f"__{_name}__"))
    setattr(GuardArray, f"__r{_name}__", _binary(f"__r{_name}__"))
    if _name != "divmod":
        setattr(GuardArray, f"__i{_name}__", _inplace(f"__i{_name}__"))
for _name in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(GuardArray, f"__{_name}__", _binary(f"__{_name}__"))
for _name in ("neg", "pos", "abs", "invert"):
    setattr(GuardArray, f"__{_name}__", _unary(f"__{_name}__"))


# ------------------------------------------------------------------ the module
def _function(f, qualname: str, short: str):
    @functools.wraps(f)
    def call(*args, **kwargs):
        if short in _SYNCING:
            _sync(qualname)
        a = _dev(args, qualname)
        kw = {k: _dev(v, qualname) for k, v in kwargs.items()}
        return _wrap(f(*a, **kw), _guards(args, kwargs))

    return call


class _Ufunc:
    """A NumPy ufunc over guard arrays: call, ``reduce``, ``at``, ... (as ``cupy.add.at``)."""

    def __init__(self, uf: np.ufunc, qualname: str):
        self._uf, self._name = uf, qualname
        self._call = _function(uf, qualname, uf.__name__)

    def __call__(self, *args, **kwargs):
        return self._call(*args, **kwargs)

    def __getattr__(self, name):
        attr = getattr(self._uf, name)
        if name in ("reduce", "accumulate", "outer", "reduceat", "at"):
            return _function(attr, f"{self._name}.{name}", name)
        return attr


class _Namespace(types.ModuleType):
    """A NumPy module (``numpy``, ``numpy.random``, ``numpy.lib``...) over guard arrays."""

    def __init__(self, module: types.ModuleType, name: str):
        super().__init__(name)
        self._np = module

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        lacks = _CUPY_LACKS.get(self.__name__.removeprefix("guard_xp"), frozenset())
        if name in lacks:
            raise AttributeError(f"{self.__name__} has no {name!r}: CuPy 14 has none")
        obj = getattr(self._np, name)
        qualname = f"{self.__name__}.{name}"
        if isinstance(obj, np.ufunc):
            obj = _Ufunc(obj, qualname)
        elif isinstance(obj, types.ModuleType):
            obj = _Namespace(obj, qualname)
        elif obj is np.ndarray:
            obj = GuardArray
        elif callable(obj) and not isinstance(obj, type):
            obj = _function(obj, qualname, name)
        setattr(self, name, obj)  # found once
        return obj


def _asarray(a, dtype=None, order=None, copy=None):
    """Onto the "device": a guard array as it is (or cast), anything else copied over."""
    if type(a) is GuardArray:
        if dtype is None or np.dtype(dtype) == a._a.dtype:
            return a
        return GuardArray(a._a.astype(dtype))
    host = np.array(_dev(a, "xp.asarray", host_ok=True), dtype=dtype, order=order or "K")
    _upload(host)
    return GuardArray(host)


def _array(a, dtype=None, copy=True, order="K", ndmin=0):
    if type(a) is GuardArray:
        out = np.array(a._a, dtype=dtype, copy=copy, order=order, ndmin=ndmin)
        return a if out is a._a else GuardArray(out)
    host = np.array(_dev(a, "xp.array", host_ok=True), dtype=dtype, order=order, ndmin=ndmin)
    _upload(host)
    return GuardArray(host)


def _asnumpy(a, stream=None, order="C", out=None, blocking=True):
    if type(a) is GuardArray:
        _sync("xp.asnumpy")
        return np.array(a._a, order=order, copy=True)
    return np.asarray(a, order=order)


guard_xp = _Namespace(np, "guard_xp")
guard_xp.ndarray = GuardArray
guard_xp.asarray = _asarray
guard_xp.asanyarray = _asarray
guard_xp.array = _array
guard_xp.asnumpy = _asnumpy
GuardArray.__numnet_array_module__ = guard_xp
