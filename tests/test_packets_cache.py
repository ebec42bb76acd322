"""The numba cache of the packets package is dropped when any of its sources changes."""
import shutil
from pathlib import Path

import ctscope.packets as pk


def test_cache_dropped_on_source_change(tmp_path):
    src = Path(pk.__file__).parent
    for f in src.glob("*.py"):
        shutil.copy(f, tmp_path / f.name)
    cache = tmp_path / "__pycache__"
    assert pk.refresh_numba_cache(str(tmp_path)) is True        # no stamp yet
    (cache / "decode.decode_l3-1.py311.nbi").write_text("stale")
    assert pk.refresh_numba_cache(str(tmp_path)) is False       # unchanged sources
    assert (cache / "decode.decode_l3-1.py311.nbi").exists()
    (tmp_path / "checksum.py").write_text((tmp_path / "checksum.py").read_text() + "\n# edited\n")
    assert pk.refresh_numba_cache(str(tmp_path)) is True
    assert not (cache / "decode.decode_l3-1.py311.nbi").exists()
