"""fgc/data.py: arrays already in the model's dtype, shape and layout pass prepare as they are; anything
else takes the checked path, with the same result (or the same error) as before."""
import numpy as np
import pytest

from fgc import data
from fgc.ir.types import TensorType

IMAGE = TensorType(("N", 4, 3), "float32")
IDS = TensorType(("N", "T"), "int64")      # a symbolic length matches any size


def test_ready_arrays_are_passed_through_unchanged():
    x = np.zeros((2, 4, 3), np.float32)
    ids = np.zeros((2, 7), np.int64)
    assert data.ready_arrays(x, [IMAGE])[0] is x
    got = data.ready_arrays((x, ids), [IMAGE, IDS])
    assert got[0] is x and got[1] is ids
    prepared = data.prepare(["image", "ids"], [IMAGE, IDS], [x, ids], "input")
    assert prepared[0] is x and prepared[1] is ids


@pytest.mark.parametrize("make", [
    lambda: np.zeros((2, 4, 3), np.float64),                     # to be cast
    lambda: np.zeros((2, 3, 4), np.float32).transpose(0, 2, 1),  # not C-contiguous
    lambda: np.zeros((2, 4, 4), np.float32),                     # wrong size after the batch axis
    lambda: np.zeros((4, 3), np.float32),                        # wrong rank
    lambda: np.zeros((0, 4, 3), np.float32),                     # no samples
    lambda: np.zeros((2, 4, 3), np.float32).tolist(),            # not an array
    lambda: [np.zeros((2, 4, 3), np.float32)],                   # one array wrapped in a list
    lambda: np.ma.zeros((2, 4, 3), np.float32),                  # an ndarray subclass
    lambda: np.float32(1.0),                                     # rank 0
])
def test_anything_else_takes_the_checked_path(make):
    x = make()
    assert data.ready_arrays(x, [IMAGE]) is None


def test_the_checked_path_gives_what_it_gave():
    x64 = np.random.default_rng(0).random((2, 4, 3))
    got = data.prepare(["image"], [IMAGE], x64, "input")[0]
    assert got.dtype == np.float32 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, x64.astype(np.float32))
    with pytest.raises(ValueError, match="0 samples"):
        data.prepare(["image"], [IMAGE], np.zeros((0, 4, 3), np.float32), "input")
    with pytest.raises(ValueError, match="axis 2 is 4"):
        data.prepare(["image"], [IMAGE], np.zeros((2, 4, 4), np.float32), "input")


def test_several_inputs_need_the_same_samples():
    x, ids = np.zeros((2, 4, 3), np.float32), np.zeros((3, 7), np.int64)
    assert data.ready_arrays([x, ids], [IMAGE, IDS]) is None
    with pytest.raises(ValueError, match="different numbers of samples"):
        data.prepare(["image", "ids"], [IMAGE, IDS], [x, ids], "input")
    assert data.ready_arrays({"image": x, "ids": ids}, [IMAGE, IDS]) is None   # a dict: matched by name
    assert data.ready_arrays([x], [IMAGE, IDS]) is None


def test_float_casts_later_leaves_float_data_for_rows_as():
    x64 = np.random.default_rng(1).random((5, 4, 3))
    kept = data.prepare(["image"], [IMAGE], x64, "input", float_casts_later=True)[0]
    assert kept is x64
    rows = data.rows_as(kept, 1, 4, np.dtype(np.float32))
    assert rows.dtype == np.float32 and rows.flags.c_contiguous
    np.testing.assert_array_equal(rows, x64.astype(np.float32)[1:4])
    ready = np.zeros((5, 4, 3), np.float32)
    assert data.rows_as(ready, 1, 4, np.dtype(np.float32)).base is ready   # a view, no copy
    # only float -> float waits: ints for a float input, floats for an int input are cast (and checked) now
    ints = np.arange(60).reshape(5, 4, 3)
    assert data.prepare(["image"], [IMAGE], ints, "input", float_casts_later=True)[0].dtype == np.float32
    with pytest.raises(TypeError, match="fractions"):
        data.prepare(["ids"], [IDS], np.full((2, 3), 0.5), "input", float_casts_later=True)
