"""The one TF32 save-and-restore (regress/tf32.py): set inside, put back exactly afterwards."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("on", [True, False, None])
def test_tf32_is_set_inside_and_restored_after(on) -> None:
    from regress.tf32 import tf32

    b = torch.backends
    before = (b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32)
    with pytest.raises(RuntimeError, match="inside"):
        with tf32(on):
            if on is not None:
                assert (b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32) == (on, on)
            b.cuda.matmul.allow_tf32 = not before[0]  # code inside changes it too
            raise RuntimeError("inside")
    assert (b.cuda.matmul.allow_tf32, b.cudnn.allow_tf32) == before
