"""The guard backend refuses what CuPy refuses and counts what makes a GPU wait; device names."""

import types

import numpy as np
import pytest
from _guard_xp import GuardArray, count_host_syncs, guard_xp

from numnet import backend
from numnet.backend import device_module, get_array_module, host_floats, to_device, to_numpy

xp = guard_xp


def _g():
    return xp.asarray(np.arange(6.0).reshape(2, 3))


@pytest.mark.parametrize(
    "stray",
    [
        lambda a: np.asarray(a),
        lambda a: np.array(a),
        lambda a: np.ascontiguousarray(a),
        lambda a: np.pad(a, 1),
        lambda a: np.exp(a),
        lambda a: np.add.at(a, (0,), 1.0),
        lambda a: np.sum(a),
        lambda a: a + np.ones(3),
        lambda a: np.ones(3) * a,
        lambda a: a @ np.ones((3, 2)),
        lambda a: xp.maximum(a, np.ones(3)),
        lambda a: xp.concatenate([a, np.ones((1, 3))]),
        lambda a: a.flat,
    ],
    ids=[
        "asarray",
        "array",
        "ascontiguousarray",
        "pad",
        "ufunc",
        "add.at",
        "sum",
        "add-host",
        "host-mul",
        "matmul-host",
        "xp-host-arg",
        "xp-host-in-list",
        "flat",
    ],
)
def test_host_conversions_and_host_operands_raise(stray):
    with pytest.raises(TypeError):
        stray(_g())


def test_device_math_stays_on_the_device_and_scalars_are_0d():
    a = _g()
    for out in (a * 2 + 1, np.float32(2) * a, -a, a.sum(), a[0, 1], a.T @ a, xp.exp(a), a > 2):
        assert type(out) is GuardArray and get_array_module(out) is xp
    assert a.sum().shape == () and a[1].shape == (3,)
    assert a.astype(a.dtype, copy=False) is a
    out = xp.empty((2, 3))
    assert xp.multiply(a, 2, out=out) is out
    assert np.shape(a) == (2, 3) and np.ndim(a) == 2  # metadata only: allowed
    a[0] = np.array([7.0, 8.0, 9.0])  # a host array copied in, as CuPy does
    assert a[np.array([0])].shape == (1, 3)  # a host index array, as CuPy takes


@pytest.mark.parametrize(
    ("read", "what"),
    [
        (lambda a: float(a.sum()), "float()"),
        (lambda a: int(a.max()), "int()"),
        (lambda a: bool((a > 0).any()), "bool()"),
        (lambda a: a.sum().item(), ".item()"),
        (lambda a: a.tolist(), ".tolist()"),
        (lambda a: a.get(), ".get()"),
        (lambda a: to_numpy(a), ".get()"),
        (lambda a: f"{a.sum():.2f}", "format()"),
        (lambda a: a[a > 2], "boolean-mask indexing"),
        (lambda a: xp.unique(a), "unique"),
    ],
)
def test_host_reads_are_counted_with_their_line(read, what):
    a = _g()
    with count_host_syncs() as syncs:
        read(a)
    assert syncs.count == 1 and what in syncs.events[0], syncs.events
    assert "test_guard_xp.py" in syncs.events[0]


def test_host_floats_reads_several_device_scalars_in_one_transfer():
    a = _g()
    with count_host_syncs() as syncs:
        got = host_floats(a.sum(), a.max(), 2.5, np.float32(0.5))
    assert got == [15.0, 5.0, 2.5, 0.5] and all(type(v) is float for v in got)
    assert syncs.count == 1
    with count_host_syncs() as syncs:
        assert host_floats(1.0, np.float64(2.0)) == [1.0, 2.0]
    assert syncs.count == 0


def test_to_device_moves_between_modules_and_leaves_same_module_alone():
    h = np.arange(3.0)
    d = to_device(h, xp)
    assert type(d) is GuardArray and to_device(d, xp) is d and to_device(h, np) is h
    back = to_device(d, np)
    assert type(back) is np.ndarray and back is not h
    np.testing.assert_array_equal(back, h)
    assert to_device(None, xp) is None


# ---------------------------------------------------------------------------------- devices
def test_device_names():
    assert device_module("cpu") is np and device_module(np) is np and device_module(xp) is xp
    with pytest.raises(ValueError, match="device must be one of cpu, cuda; got 'tpu'"):
        device_module("tpu")


def test_cuda_without_cupy_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(backend, "_cupy", lambda: None)
    with pytest.raises(RuntimeError) as e:
        device_module("cuda")
    msg = str(e.value)
    assert "\n" not in msg and "needs CuPy" in msg and "pip install 'numnet[gpu]'" in msg
    assert "cupy-cuda13x" in msg
    assert backend.available_backends() == ["numpy"]


def test_cuda_with_cupy_but_no_gpu_is_a_one_line_error(monkeypatch):
    class NoDevice(Exception):
        pass

    def count():
        raise NoDevice("cudaErrorNoDevice: no CUDA-capable device is detected\nmore detail")

    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=types.SimpleNamespace(
        getDeviceCount=count)))  # fmt: skip
    monkeypatch.setattr(backend, "_cupy", lambda: fake)
    with pytest.raises(RuntimeError) as e:
        device_module("cuda")
    msg = str(e.value)
    assert "\n" not in msg and "not usable" in msg and "no CUDA-capable device" in msg
    assert backend.available_backends() == ["numpy"]


def test_the_guard_module_lacks_what_cupy_lacks():
    for name in ("vecdot", "errstate", "nditer"):
        assert getattr(xp, name, None) is None and hasattr(np, name), name
    assert getattr(xp.random, "get_state", None) is None
    assert xp.einsum is not None and xp.random.rand(2).shape == (2,)
