"""Layout shared by the compiled table scanner (``scan_kernel``) and its Python side
(``scan_table``): key spaces, ``info`` slots, status codes and the literal/character
tables the kernel reads.  numpy only, so the Python side can load an ahead-of-time
compiled kernel without importing numba."""
import numpy as np

# ---------------------------------------------------------------- layout of the outputs
# per key space: a hash table (int32 slots -> id), the key words of each id, its count,
# and two extra words (text offset/length of the first occurrence, or components).
S_SRC, S_DST, S_SD, S_PAIR, S_ROW, S_PORT = 0, 1, 2, 3, 4, 5
NSPACE = 6
MAX_L4 = 64
MAX_ST = 256
# ``info`` slots
I_STATUS, I_LINE, I_NL4, I_NST = 0, 1, 2, 3
OK, GIVE_UP = 0, 1
# literals: row k = length, bytes
_WORDS = (b"src=", b" dst=", b"sport=", b" dport=", b"type=", b" code=", b" id=",
          b"srckey=0x", b" dstkey=0x", b"timeout=", b", stream_timeout=",
          b" [UNREPLIED] ", b" [ASSURED]", b"OFFLOAD]", b"[HW_OFFLOAD]")
(L_SRC, L_DST, L_SPORT, L_DPORT, L_TYPE, L_CODE, L_ID, L_SRCKEY, L_DSTKEY, L_TIMEOUT,
 L_STREAM, L_UNREPLIED, L_ASSURED, L_OFFLOAD, L_HW) = range(len(_WORDS))
F_UNREPLIED, F_ASSURED, F_OFFLOAD, F_HW, F_UNREPLIED_END = range(5)
_LITS = np.zeros((len(_WORDS), 24), np.int64)
for _i, _w in enumerate(_WORDS):
    _LITS[_i, 0] = len(_w)
    _LITS[_i, 1:1 + len(_w)] = np.frombuffer(_w, np.uint8)

_ALPHA_L4 = np.full(256, 0, np.uint8)
for _i, _c in enumerate(b"0123456789abcdefghijklmnopqrstuvwxyz"):
    _ALPHA_L4[_c] = _i + 1
_ALPHA_ST = np.full(256, 0, np.uint8)
for _i, _c in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"):
    _ALPHA_ST[_c] = _i + 1
_HEX = np.full(256, 255, np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX[_c] = _i
_HEXCHARS = np.frombuffer(b"0123456789abcdef", np.uint8).copy()
