"""The compiled table scanner: one numba entry point, ``_scan`` (see ``scan_table``
for what it reads and when it gives up).

Compiled with ``jit.hot`` (no allocation: the caller sizes every array by the number
of lines); one entry point, so a warm run loads one cache entry -- or none at all when
``scan_table`` finds the ahead-of-time compiled copy (``ctscope.aot``) built from
``_scan`` with ``SIGNATURE``."""
import numpy as np

from ..jit import hot
from .scan_layout import (_ALPHA_L4, _ALPHA_ST, _HEX, _HEXCHARS, _LITS, F_ASSURED, F_HW, F_OFFLOAD,
                          F_UNREPLIED, F_UNREPLIED_END, GIVE_UP, I_LINE, I_NL4, I_NST, I_STATUS,
                          L_ASSURED, L_CODE, L_DPORT, L_DST, L_DSTKEY, L_HW, L_ID, L_OFFLOAD,
                          L_SPORT, L_SRC, L_SRCKEY, L_STREAM, L_TIMEOUT, L_TYPE, L_UNREPLIED,
                          MAX_L4, MAX_ST, OK, S_DST, S_PAIR, S_PORT, S_ROW, S_SD, S_SRC)


@hot
def _mix(a, b, c):
    h = a * np.uint64(0x9E3779B97F4A7C15) ^ (b + np.uint64(0x632BE59BD9B4E019))
    h = (h ^ (h >> np.uint64(31))) * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ c * np.uint64(0x94D049BB133111EB)
    h = (h ^ (h >> np.uint64(29))) * np.uint64(0xD6E8FEB86993DFEB)
    return h ^ (h >> np.uint64(32))


@hot
def _intern(space, slots, keys, counts, nids, a, b, c):
    """Id of key (a, b, c) in ``space`` (new ids in order of first sight); counts it."""
    mask = slots.shape[1] - 1
    i = np.int64(_mix(a, b, c) & np.uint64(mask))
    while True:
        k = slots[space, i]
        if k < 0:
            k = nids[space]
            nids[space] = k + 1
            slots[space, i] = k
            keys[space, k, 0] = a
            keys[space, k, 1] = b
            keys[space, k, 2] = c
            counts[space, k] = 1
            return k
        if keys[space, k, 0] == a and keys[space, k, 1] == b and keys[space, k, 2] == c:
            counts[space, k] += 1
            return k
        i = (i + 1) & mask


@hot
def _digits(buf, p, end):
    """Decimal number at p without a leading zero (``-1`` if none / too long); end pos."""
    q = p
    v = np.int64(0)
    while q < end and 48 <= buf[q] <= 57:
        v = v * 10 + (buf[q] - 48)
        q += 1
        if q - p > 9:
            return np.int64(-1), q
    if q == p or (buf[p] == 48 and q - p > 1):
        return np.int64(-1), q
    return v, q


@hot
def _hexkey(buf, q, end):
    """A GRE key's hex digits at q (after "0x") -> (value, end of the digits); value -1
    unless 1-8 digits without a leading zero (the kernel prints them with %x)."""
    r = q
    v = np.int64(0)
    while r < end and _HEX[buf[r]] != 255:
        v = v * 16 + _HEX[buf[r]]
        r += 1
    if r == q or r - q > 8 or (buf[q] == 48 and r - q > 1):
        return np.int64(-1), r
    return v, r


@hot
def _any_digits(buf, p, end):
    """End of a run of >= 1 digits at p (p if none)."""
    q = p
    while q < end and 48 <= buf[q] <= 57:
        q += 1
    return q


@hot
def _lit(buf, p, end, lits, k):
    """True if literal ``k`` (``_LITS``) is at p."""
    n = lits[k, 0]
    if p + n > end:
        return False
    for i in range(n):
        if buf[p + i] != lits[k, 1 + i]:
            return False
    return True


@hot
def _spaces(buf, p, end):
    q = p
    while q < end and buf[q] == 32:
        q += 1
    return q


@hot
def _v4(buf, p, end):
    """Canonical dotted quad in buf[p:end] exactly: (ok, value)."""
    v = np.uint64(0)
    q = p
    for part in range(4):
        if part:
            if q >= end or buf[q] != 46:
                return False, v
            q += 1
        o, r = _digits(buf, q, end)
        if o < 0 or o > 255 or r - q > 3:
            return False, v
        v = (v << np.uint64(8)) | np.uint64(o)
        q = r
    return q == end, v


@hot
def _fmt6(g, dotted, out):
    """Kernel ``%pI6c`` / inet_ntop text of the 8 groups ``g`` into ``out`` (length).
    ``dotted``: zero run searched in the first 6 groups and the last 32 bits dotted."""
    rng = 6 if dotted else 8
    longest = 1
    colonpos = -1
    for i in range(rng):
        z = 0
        for j in range(i, rng):
            if g[j] != 0:
                break
            z += 1
        if z > longest:
            longest = z
            colonpos = i
    n = 0
    need = False
    i = 0
    while i < rng:
        if i == colonpos:
            if need or i == 0:
                out[n] = 58
                n += 1
            out[n] = 58
            n += 1
            need = False
            i += longest
            continue
        if need:
            out[n] = 58
            n += 1
        w = g[i]
        started = False
        for sh in (12, 8, 4, 0):
            d = (w >> sh) & 15
            if d or started or sh == 0:
                out[n] = _HEXCHARS[d]
                n += 1
                started = True
        need = True
        i += 1
    if dotted:
        if need:
            out[n] = 58
            n += 1
        for k in range(4):
            if k:
                out[n] = 46
                n += 1
            o = (g[6 + k // 2] >> (8 * (1 - k % 2))) & 255
            if o >= 100:
                out[n] = 48 + o // 100
                n += 1
            if o >= 10:
                out[n] = 48 + (o // 10) % 10
                n += 1
            out[n] = 48 + o % 10
            n += 1
    return n


@hot
def _same(buf, p, tmp, n):
    for t in range(n):
        if tmp[t] != buf[p + t]:
            return False
    return True


@hot
def _v6(buf, p, end, g, tmp):
    """IPv6 text buf[p:end] -> (ok, hi, lo, form): form 0 compressed hex, 1 full hex,
    2 dotted tail; ok only if the text is exactly that form's canonical text."""
    for i in range(8):
        g[i] = 0
    # split into parts at ':'; '::' once
    ngroups = 0
    gap = -1                 # index in g where '::' sits
    q = p
    dotted = False
    if end - p >= 2 and buf[p] == 58 and buf[p + 1] == 58:
        gap = 0
        q = p + 2            # "::" alone: no parts follow, all eight groups are zero
    elif end > p and buf[p] == 58:
        return False, np.uint64(0), np.uint64(0), 0
    while q < end:
        # one part: hex group, or a dotted quad at the end
        r = q
        while r < end and buf[r] != 58:
            r += 1
        has_dot = False
        for t in range(q, r):
            if buf[t] == 46:
                has_dot = True
        if has_dot:
            if r != end or ngroups > 6:
                return False, np.uint64(0), np.uint64(0), 0
            ok, v = _v4(buf, q, r)
            if not ok:
                return False, np.uint64(0), np.uint64(0), 0
            g[ngroups] = np.int64(v >> np.uint64(16))
            g[ngroups + 1] = np.int64(v & np.uint64(0xFFFF))
            ngroups += 2
            dotted = True
            q = r
            break
        if r == q or r - q > 4 or ngroups >= 8:
            return False, np.uint64(0), np.uint64(0), 0
        w = 0
        for t in range(q, r):
            h = _HEX[buf[t]]
            if h == 255:
                return False, np.uint64(0), np.uint64(0), 0
            w = w * 16 + h
        g[ngroups] = w
        ngroups += 1
        q = r
        if q < end:          # at ':'
            if q + 1 < end and buf[q + 1] == 58:
                if gap >= 0:
                    return False, np.uint64(0), np.uint64(0), 0
                gap = ngroups
                q += 2
            else:
                q += 1
                if q == end:
                    return False, np.uint64(0), np.uint64(0), 0
    if gap >= 0:
        if ngroups >= 8:
            return False, np.uint64(0), np.uint64(0), 0
        shift = 8 - ngroups
        for i in range(ngroups - 1, gap - 1, -1):
            g[i + shift] = g[i]
        for i in range(gap, gap + shift):
            g[i] = 0
    elif ngroups != 8:
        return False, np.uint64(0), np.uint64(0), 0
    n = end - p
    form = -1
    if dotted:
        if _fmt6(g, True, tmp) == n and _same(buf, p, tmp, n):
            form = 2
    elif _fmt6(g, False, tmp) == n and _same(buf, p, tmp, n):
        form = 0
    elif n == 39 and gap < 0:
        form = 1                 # 8 groups of 4 (lowercase) hex digits: the full form
        k = 0
        for t in range(p, end):
            if buf[t] == 58:
                if k != 4:
                    form = -1
                k = 0
            else:
                k += 1
        if k != 4:
            form = -1
    if form < 0:
        return False, np.uint64(0), np.uint64(0), 0
    hi = np.uint64(0)
    lo = np.uint64(0)
    for i in range(4):
        hi = (hi << np.uint64(16)) | np.uint64(g[i])
        lo = (lo << np.uint64(16)) | np.uint64(g[4 + i])
    return True, hi, lo, form


@hot
def _addr(buf, p, end, g, tmp):
    """Address token at p (chars [0-9a-f.:]) -> (ok, hi, lo, form, end of token)."""
    q = p
    colon = False
    while q < end:
        c = buf[q]
        if c == 58:
            colon = True
        elif not (48 <= c <= 57 or 97 <= c <= 102 or c == 46):
            break
        q += 1
    if q == p:
        return False, np.uint64(0), np.uint64(0), 0, q
    if colon:
        ok, hi, lo, form = _v6(buf, p, q, g, tmp)
        return ok, hi, lo, form, q
    ok, v = _v4(buf, p, q)
    return ok, np.uint64(0), v, 3, q


@hot
def _at(buf, p, end, lits, k):
    return p >= 0 and _lit(buf, p, end, lits, k)


@hot
def _flag(buf, j, end, flags):
    """Occurrences of the flag texts ending at ']' = buf[j], counted like ``bytes.count``
    on the whole buffer (left to right, not overlapping: only " [UNREPLIED] " can overlap
    itself, through its spaces)."""
    if _at(buf, j - 11, end, _LITS, L_UNREPLIED):
        if j - 11 >= flags[F_UNREPLIED_END]:
            flags[F_UNREPLIED] += 1
            flags[F_UNREPLIED_END] = j + 2
    if _at(buf, j - 9, end, _LITS, L_ASSURED):
        flags[F_ASSURED] += 1
    if _at(buf, j - 7, end, _LITS, L_OFFLOAD):
        flags[F_OFFLOAD] += 1
        if _at(buf, j - 11, end, _LITS, L_HW):
            flags[F_HW] += 1


@hot
def _has_nl_or_bracket(x):
    y = x ^ np.uint64(0x0A0A0A0A0A0A0A0A)
    z = x ^ np.uint64(0x5D5D5D5D5D5D5D5D)
    m1 = np.uint64(0x0101010101010101)
    m8 = np.uint64(0x8080808080808080)
    return (((y - m1) & ~y & m8) | ((z - m1) & ~z & m8)) != np.uint64(0)


@hot
def _count_lines(buf, words):
    """Number of b"\n" (8 bytes at a time)."""
    n = 0
    nw = words.shape[0]
    m1 = np.uint64(0x0101010101010101)
    m8 = np.uint64(0x8080808080808080)
    nl = np.uint64(0x0A0A0A0A0A0A0A0A)
    for i in range(nw):
        y = words[i] ^ nl
        if ((y - m1) & ~y & m8) != np.uint64(0):
            for k in range(8 * i, 8 * i + 8):
                if buf[k] == 10:
                    n += 1
    for k in range(8 * nw, buf.shape[0]):
        if buf[k] == 10:
            n += 1
    return n


@hot
def _scan(mode, buf, words, lits, slots, keys, counts, l4keys, stkeys, l4cnt, l4nodport, stcnt,
          nids, info, g, tmp, flags):
    """mode 0: ``info[I_LINE]`` = the number of newlines in ``buf``.  mode 1: read the
    lines of ``buf`` (a whole table, or the next piece of one cut after a newline),
    going on from the lines, l4 names and states of earlier pieces (``info``); ends with
    ``info[I_STATUS]`` = OK, or GIVE_UP with ``info[I_LINE]`` the line it stopped at.
    Every line counted (``counts.shape[1]``: the most it can hold) is whole in ``buf``."""
    if mode == 0:
        info[I_LINE] = _count_lines(buf, words)
        return
    end = buf.shape[0]
    pos = 0
    line = info[I_LINE]
    maxlines = counts.shape[1]
    nw8 = words.shape[0] * 8
    nl4 = info[I_NL4]
    nst = info[I_NST]
    while pos < end:
        info[I_LINE] = line
        if line >= maxlines:
            info[I_STATUS] = GIVE_UP
            return
        eol = pos
        while eol < end:
            if eol & 7 == 0 and eol + 8 <= nw8 and not _has_nl_or_bracket(words[eol >> 3]):
                eol += 8                # 8 bytes at a time through the rest of the line
                continue
            c = buf[eol]
            if c == 10:
                break
            if c == 93:                 # ']': the flags, counted as bytes.count would
                _flag(buf, eol, end, flags)
            eol += 1
        p = pos
        # (ipv[46] +\d+ +)?
        if eol - p > 5 and buf[p] == 105 and buf[p + 1] == 112 and buf[p + 2] == 118 and \
                (buf[p + 3] == 52 or buf[p + 3] == 54) and buf[p + 4] == 32:
            q = _spaces(buf, p + 4, eol)
            r = _any_digits(buf, q, eol)
            if r == q or r >= eol or buf[r] != 32:
                info[I_STATUS] = GIVE_UP
                return
            p = _spaces(buf, r, eol)
        # l4 name
        code = np.uint64(0)
        q = p
        while q < eol and _ALPHA_L4[buf[q]] != 0:
            if q - p >= 10:
                info[I_STATUS] = GIVE_UP
                return
            code = (code << np.uint64(6)) | np.uint64(_ALPHA_L4[buf[q]])
            q += 1
        if q == p or q >= eol or buf[q] != 32:
            info[I_STATUS] = GIVE_UP
            return
        l4 = -1
        for k in range(nl4):
            if l4keys[k] == code:
                l4 = k
                break
        if l4 < 0:
            if nl4 >= MAX_L4:
                info[I_STATUS] = GIVE_UP
                return
            l4 = nl4
            l4keys[l4] = code
            nl4 += 1
        l4cnt[l4] += 1
        # " +\d+ +"
        p = _spaces(buf, q, eol)
        q = _any_digits(buf, p, eol)
        if q == p or q >= eol or buf[q] != 32:
            info[I_STATUS] = GIVE_UP
            return
        p = _spaces(buf, q, eol)
        # (\d+ +)?
        if p < eol and 48 <= buf[p] <= 57:
            q = _any_digits(buf, p, eol)
            if q >= eol or buf[q] != 32:
                info[I_STATUS] = GIVE_UP
                return
            p = _spaces(buf, q, eol)
        # (STATE +)?
        st = 0
        if p < eol and 65 <= buf[p] <= 90:
            s0 = np.uint64(0)
            s1 = np.uint64(0)
            q = p
            while q < eol and _ALPHA_ST[buf[q]] != 0:
                if q - p >= 20:
                    info[I_STATUS] = GIVE_UP
                    return
                if q - p < 10:
                    s0 = (s0 << np.uint64(6)) | np.uint64(_ALPHA_ST[buf[q]])
                else:
                    s1 = (s1 << np.uint64(6)) | np.uint64(_ALPHA_ST[buf[q]])
                q += 1
            if q >= eol or buf[q] != 32:
                info[I_STATUS] = GIVE_UP
                return
            for k in range(1, nst + 1):
                if stkeys[k, 0] == np.uint64(l4) and stkeys[k, 1] == s0 and stkeys[k, 2] == s1:
                    st = k
                    break
            if st == 0:
                if nst + 1 >= MAX_ST:
                    info[I_STATUS] = GIVE_UP
                    return
                nst += 1
                st = nst
                stkeys[st, 0] = np.uint64(l4)
                stkeys[st, 1] = s0
                stkeys[st, 2] = s1
            stcnt[st] += 1
            p = _spaces(buf, q, eol)
        # (timeout=\d+, stream_timeout=\d+ +)?
        if _lit(buf, p, eol, lits, L_TIMEOUT):
            q = _any_digits(buf, p + lits[L_TIMEOUT, 0], eol)
            if q == p + lits[L_TIMEOUT, 0] or not _lit(buf, q, eol, lits, L_STREAM):
                info[I_STATUS] = GIVE_UP
                return
            r = _any_digits(buf, q + lits[L_STREAM, 0], eol)
            if r == q + lits[L_STREAM, 0] or r >= eol or buf[r] != 32:
                info[I_STATUS] = GIVE_UP
                return
            p = _spaces(buf, r, eol)
        # src=SRC dst=DST
        if not _lit(buf, p, eol, lits, L_SRC):
            info[I_STATUS] = GIVE_UP
            return
        p += 4
        ok, shi, slo, sform, q = _addr(buf, p, eol, g, tmp)
        if not ok or not _lit(buf, q, eol, lits, L_DST):
            info[I_STATUS] = GIVE_UP
            return
        p = q + 5
        ok, dhi, dlo, dform, q = _addr(buf, p, eol, g, tmp)
        if not ok or q >= eol or buf[q] != 32:
            info[I_STATUS] = GIVE_UP
            return
        p = q + 1
        # port group
        kind = 0
        a = np.int64(0)
        b = np.int64(-1)
        if _lit(buf, p, eol, lits, L_SPORT):
            a, q = _digits(buf, p + lits[L_SPORT, 0], eol)
            if a < 0 or a > 65535 or not _lit(buf, q, eol, lits, L_DPORT):
                info[I_STATUS] = GIVE_UP
                return
            b, q = _digits(buf, q + lits[L_DPORT, 0], eol)
            if b < 0 or b > 65535 or q >= eol or buf[q] != 32:
                info[I_STATUS] = GIVE_UP
                return
            kind = 1
        elif _lit(buf, p, eol, lits, L_TYPE):
            q = _any_digits(buf, p + lits[L_TYPE, 0], eol)
            if q == p + lits[L_TYPE, 0] or not _lit(buf, q, eol, lits, L_CODE):
                info[I_STATUS] = GIVE_UP
                return
            r = _any_digits(buf, q + lits[L_CODE, 0], eol)
            if r == q + lits[L_CODE, 0] or not _lit(buf, r, eol, lits, L_ID):
                info[I_STATUS] = GIVE_UP
                return
            a, q = _digits(buf, r + lits[L_ID, 0], eol)
            if a < 0 or a > 65535 or q >= eol or buf[q] != 32:
                info[I_STATUS] = GIVE_UP
                return
            kind = 2
        elif _lit(buf, p, eol, lits, L_SRCKEY):
            a, r = _hexkey(buf, p + lits[L_SRCKEY, 0], eol)
            if a < 0 or not _lit(buf, r, eol, lits, L_DSTKEY):
                info[I_STATUS] = GIVE_UP
                return
            b, r = _hexkey(buf, r + lits[L_DSTKEY, 0], eol)
            if b < 0 or r >= eol or buf[r] != 32:
                info[I_STATUS] = GIVE_UP
                return
            kind = 3
        dport = b if kind == 1 else np.int64(-1)
        if kind != 1:
            l4nodport[l4] += 1
        # interning
        sid = _intern(S_SRC, slots, keys, counts, nids, shi, slo, np.uint64(sform))
        did = _intern(S_DST, slots, keys, counts, nids, dhi, dlo, np.uint64(dform))
        _intern(S_SD, slots, keys, counts, nids, np.uint64(sid), np.uint64(did), np.uint64(0))
        _intern(S_PAIR, slots, keys, counts, nids, np.uint64(sid), np.uint64(l4),
                np.uint64(dport + 1))
        _intern(S_ROW, slots, keys, counts, nids,
                (np.uint64(sid) << np.uint64(32)) | np.uint64(did),
                (np.uint64(l4) << np.uint64(40)) | (np.uint64(st) << np.uint64(8)) | np.uint64(kind),
                (np.uint64(a) << np.uint64(32)) | np.uint64(b & 0xFFFFFFFF))
        if dport >= 0:
            _intern(S_PORT, slots, keys, counts, nids, np.uint64(l4), np.uint64(dport), np.uint64(0))
        line += 1
        pos = eol + 1
    info[I_LINE] = line
    info[I_NL4] = nl4
    info[I_NST] = nst
    info[I_STATUS] = OK



def signature():
    """``_scan``'s one signature (what ``scan_table.scan`` passes), for the
    ahead-of-time copy; a test checks it against the JIT's."""
    from numba import types as t

    def a(dtype, ndim, readonly=False):
        return t.Array(dtype, ndim, "C", readonly=readonly)
    i8 = t.int64
    return t.void(i8, a(t.uint8, 1, True), a(t.uint64, 1, True), a(i8, 2), a(t.int32, 2),
                  a(t.uint64, 3), a(i8, 2), a(t.uint64, 1), a(t.uint64, 2), a(i8, 1), a(i8, 1),
                  a(i8, 1), a(i8, 1), a(i8, 1), a(i8, 1), a(t.uint8, 1), a(i8, 1))
