"""Edge checks shared by the library and the command: positive ints and floats, a data dict."""

import numpy as np
import pytest

from numnet._checks import check_positive_float, check_positive_int, check_train_val_data


@pytest.mark.parametrize("value", [1, 7, np.int64(3), np.uint8(2)])
def test_positive_int_passes_ints_and_returns_a_python_int(value):
    out = check_positive_int("batch_size", value)
    assert out == value and type(out) is int


@pytest.mark.parametrize("value", [0, -2, 2.0, True, "3", None, np.float64(2)])
def test_positive_int_refuses_naming_the_argument(value):
    with pytest.raises(ValueError) as e:
        check_positive_int("batch_size", value)
    assert str(e.value) == f"batch_size must be a positive integer, got {value!r}"


@pytest.mark.parametrize(
    ("text", "message"),
    [("0", "must be a positive integer, got 0"), ("-3", "must be a positive integer, got -3"),
     ("1.5", "expected an integer, got '1.5'"), ("x", "expected an integer, got 'x'")],
)  # fmt: skip
def test_the_commands_positive_int_is_the_library_check(text, message):
    from numnet.cli.values import pos_int as _pos_int

    assert _pos_int("12") == 12
    with pytest.raises(ValueError) as e:
        _pos_int(text)
    assert str(e.value) == message


@pytest.mark.parametrize(
    ("value", "ok"), [(0.5, True), (3, True), (0, False), (-1.0, False), (np.inf, False),
                      (np.nan, False), (True, False), ("1", False), (None, False)],
)  # fmt: skip
def test_positive_float(value, ok):
    if ok:
        assert check_positive_float("lr_decay", value) == value
    else:
        with pytest.raises(ValueError, match=r"^lr_decay must be a finite number > 0"):
            check_positive_float("lr_decay", value)
    assert check_positive_float("grad_clip", None, allow_none=True) is None


def test_train_val_data_accepts_extra_keys_and_names_the_bad_one():
    X, y = np.zeros((4, 2)), np.zeros(4, np.int64)
    check_train_val_data({"X_train": X, "y_train": y, "X_val": X, "y_val": y, "X_test": 1})
    with pytest.raises(ValueError, match=r"data\['y_val'\] must be a 1-D array of integer labels"):
        check_train_val_data({"X_train": X, "y_train": y, "X_val": X, "y_val": y.astype(float)})
    with pytest.raises(ValueError, match=r"data\['X_train'\] must hold at least one sample"):
        check_train_val_data({"X_train": X[:0], "y_train": y[:0], "X_val": X, "y_val": y})
