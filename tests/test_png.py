"""The report's PNG encoder writes files that decoders read back pixel for pixel."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from regress.report.png import encode_png


@pytest.mark.parametrize("shape", [(1, 1, 3), (5, 7, 3), (32, 32, 3), (300, 257, 3)])
def test_png_round_trips_through_pil(shape: tuple[int, int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    img = rng.integers(0, 256, shape, dtype=np.uint8)
    img[: shape[0] // 2] = np.linspace(0, 255, shape[1], dtype=np.uint8)[None, :, None]  # smooth half
    decoded = Image.open(io.BytesIO(encode_png(img)))
    assert decoded.mode == "RGB" and decoded.size == (shape[1], shape[0])
    assert np.array_equal(np.asarray(decoded), img)


def test_png_rejects_what_it_cannot_encode() -> None:
    for bad in (np.zeros((4, 4, 4), np.uint8), np.zeros((4, 4, 3), np.float32), np.zeros((0, 4, 3), np.uint8)):
        with pytest.raises(ValueError, match="uint8 HxWx3"):
            encode_png(bad)
