"""The vectorised fill records equal what the capture decoder makes of the fill frames."""
import numpy as np
import pytest

from ctscope.kernel.fill import handshake_frames
from ctscope.packets.source import decode_packets
from ctscope.verify.fill import fill_batch


@pytest.mark.parametrize("kind,first", [("assured", 0), ("assured", 70_000), ("unassured", 262_000)])
def test_fill_batch_matches_the_decoder(kind, first):
    frames = [f for _s, f in handshake_frames(40, kind, first=first)]
    ts = [5_000 + 7 * k for k in range(len(frames))]
    decoded = decode_packets(frames, ts_ns=ts)
    built = fill_batch(40, kind, first=first, t0_ns=5_000, dt_ns=7)
    assert built.dtype == decoded.dtype and len(built) == len(decoded)
    for name in decoded.dtype.names:
        assert np.array_equal(built[name], decoded[name]), name


def test_fill_batch_rejects_unknown_kinds():
    with pytest.raises(ValueError):
        fill_batch(1, "half")
