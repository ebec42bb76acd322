"""TCP scenarios: handshakes, simultaneous open, RST in every state and direction,
half-close orders, pickup, re-open, window checks, options, invalid flags, checksums."""
from __future__ import annotations

from ctscope.craft import TcpConversation

from .alloc import scenario

OTHER = {"c": "s", "s": "c"}


def conv(alloc, v6=False, **kw) -> TcpConversation:
    c, s = alloc.pair(v6)
    return TcpConversation(c, s, 40000, 80, **kw)


def established(cv, data=True):
    items = cv.handshake()
    if data:
        items += [cv.send("c", 100), cv.ack("s"), cv.send("s", 200), cv.ack("c")]
    return items


def to_state(cv, state: str):
    """Items that bring a connection to ``state`` (client initiates)."""
    if state == "SYN_SENT":
        return [cv.syn()]
    if state == "SYN_RECV":
        return [cv.syn(), cv.syn_ack()]
    items = established(cv)
    if state == "ESTABLISHED":
        return items
    items.append(cv.fin("c"))
    if state == "FIN_WAIT":
        return items
    items.append(cv.ack("s"))
    if state == "CLOSE_WAIT":
        return items
    items.append(cv.fin("s"))
    if state == "LAST_ACK":
        return items
    items.append(cv.ack("c"))
    return items                                     # TIME_WAIT


def lifecycle(alloc):
    out = []
    for v6 in (False, True):
        fam = "v6" if v6 else "v4"
        for who in ("c", "s"):
            cv = conv(alloc, v6)
            out.append(scenario(f"tcp_lifecycle_close_by_{who}_{fam}", established(cv) + cv.close(who)))
        cv = conv(alloc, v6)
        items = established(cv) + [cv.fin("c"), cv.fin("s"), cv.ack("c"), cv.ack("s")]
        out.append(scenario(f"tcp_simultaneous_close_{fam}", items))
        cv = conv(alloc, v6)
        out.append(scenario(f"tcp_fin_with_data_{fam}", established(cv) + [
            cv.segment("c", "FPA", bytes(50)), cv.ack("s"), cv.send("s", 30), cv.ack("c"),
            cv.fin("s"), cv.ack("c")]))
        cv = conv(alloc, v6)
        out.append(scenario(f"tcp_half_close_then_data_{fam}", established(cv) + [
            cv.fin("s"), cv.ack("c"), cv.send("c", 500), cv.ack("s"), cv.fin("c"), cv.ack("s")]))
    return out


def handshakes(alloc):
    out = []
    variants = {
        "no_wscale_client": dict(wscale_c=None), "no_wscale_server": dict(wscale_s=None),
        "no_wscale": dict(wscale_c=None, wscale_s=None), "no_sack": dict(sack_ok=False),
        "timestamps": dict(timestamps=True), "wscale_14": dict(wscale_c=14, wscale_s=14),
        "small_windows": dict(win_c=1024, win_s=2048, wscale_c=None, wscale_s=None),
        "high_isn": dict(isn_c=0xFFFFFF00, isn_s=0xFFFFFFF0),
    }
    for name, kw in variants.items():
        for v6 in (False, True):
            cv = conv(alloc, v6, **kw)
            items = established(cv) + [cv.send("c", 1400), cv.send("c", 1400), cv.ack("s")] + cv.close("c")
            out.append(scenario(f"tcp_handshake_{name}_{'v6' if v6 else 'v4'}", items))
    cv = conv(alloc)
    out.append(scenario("tcp_syn_retransmitted", [cv.syn(), cv.retransmit("c"), cv.syn_ack(), cv.ack("c")]))
    cv = conv(alloc)
    out.append(scenario("tcp_synack_retransmitted", [cv.syn(), cv.syn_ack(), cv.retransmit("s"), cv.ack("c"),
                                                     cv.send("c", 10), cv.ack("s")]))
    cv = conv(alloc)
    out.append(scenario("tcp_final_ack_lost", [cv.syn(), cv.syn_ack(), cv.send("c", 100), cv.ack("s")]))
    cv = conv(alloc)
    out.append(scenario("tcp_syn_only", [cv.syn()]))
    cv = conv(alloc)
    out.append(scenario("tcp_synack_without_syn", [cv.segment("s", "SA", ack=1001)]))
    cv = conv(alloc)
    syn = cv.syn()
    out.append(scenario("tcp_synack_wrong_ack", [syn, cv.segment("s", "SA", ack=5), cv.syn_ack(), cv.ack("c")]))
    cv = conv(alloc)
    out.append(scenario("tcp_ack_before_synack", [cv.syn(), cv.segment("c", "A", ack=0), cv.syn_ack(),
                                                  cv.ack("c")]))
    for v6 in (False, True):
        cv = conv(alloc, v6)
        isn_c, isn_s = 1000, 500000
        items = [cv.segment("c", "S"), cv.segment("s", "S"),
                 cv.segment("s", "SA", seq=isn_s, ack=isn_c + 1, advance=False),
                 cv.segment("c", "SA", seq=isn_c, ack=isn_s + 1, advance=False),
                 cv.ack("c"), cv.ack("s"), cv.send("c", 10), cv.ack("s")]
        out.append(scenario(f"tcp_simultaneous_open_{'v6' if v6 else 'v4'}", items))
    return out


STATES = ("SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT")


def resets(alloc):
    out = []
    for state in STATES:
        for side in ("c", "s"):
            for with_ack in (True, False):
                cv = conv(alloc)
                items = to_state(cv, state)
                if state == "SYN_SENT" and side == "s":       # no SYN/ACK seen: seq 0
                    rst = cv.segment("s", "RA" if with_ack else "R", seq=0, ack=1001 if with_ack else 0)
                else:
                    rst = cv.rst(side, with_ack)
                items = items + [rst, cv.syn() if state in ("SYN_SENT", "SYN_RECV") else cv.send("c", 10)]
                kind = "rstack" if with_ack else "rst"
                out.append(scenario(f"tcp_{kind}_from_{side}_in_{state.lower()}", items))
    cv = conv(alloc)
    items = established(cv) + [cv.segment("c", "R", seq=(cv.sides["c"].nxt + 5000) & 0xFFFFFFFF)]
    out.append(scenario("tcp_rst_out_of_window", items + [cv.send("c", 10), cv.ack("s")]))
    cv = conv(alloc)
    items = established(cv) + [cv.segment("s", "R", seq=(cv.sides["s"].nxt + 10) & 0xFFFFFFFF)]
    out.append(scenario("tcp_rst_in_window_not_exact", items + [cv.send("s", 10), cv.ack("c")]))
    return out


def reopen(alloc):
    out = []
    for v6 in (False, True):
        cv = conv(alloc, v6)
        items = established(cv) + cv.close("c")
        cv2 = TcpConversation(cv.sides["c"].addr, cv.sides["s"].addr, 40000, 80, isn_c=900000, isn_s=77777)
        items += cv2.handshake() + [cv2.send("c", 10), cv2.ack("s")]
        out.append(scenario(f"tcp_reopen_from_time_wait_{'v6' if v6 else 'v4'}", items))
    cv = conv(alloc)
    items = established(cv) + [cv.rst("c")]
    cv2 = TcpConversation(cv.sides["c"].addr, cv.sides["s"].addr, 40000, 80, isn_c=900000, isn_s=77777)
    out.append(scenario("tcp_reopen_from_close", items + cv2.handshake()))
    cv = conv(alloc)
    items = established(cv)
    cv2 = TcpConversation(cv.sides["c"].addr, cv.sides["s"].addr, 40000, 80, isn_c=900000, isn_s=77777)
    out.append(scenario("tcp_syn_in_established", items + [cv2.syn(), cv2.syn_ack()]))
    cv = conv(alloc)
    items = established(cv) + [cv.fin("c"), cv.ack("s")]
    cv2 = TcpConversation(cv.sides["c"].addr, cv.sides["s"].addr, 40000, 80, isn_c=900000, isn_s=77777)
    out.append(scenario("tcp_syn_in_close_wait", items + [cv2.syn(), cv2.syn_ack(), cv2.ack("c")]))
    return out


def pickup(alloc):
    out = []
    for loose in (1, 0):
        for first in ("c", "s"):
            for v6 in (False, True):
                cv = conv(alloc, v6)
                cv.handshake()                                        # not seen by the firewall
                items = [cv.send(first, 100), cv.ack(OTHER[first]), cv.send(first, 100),
                         cv.send(OTHER[first], 50), cv.ack(first)] + cv.close(first)
                name = f"tcp_pickup_loose{loose}_from_{first}_{'v6' if v6 else 'v4'}"
                out.append(scenario(name, items, settings={"nf_conntrack_tcp_loose": loose}))
    cv = conv(alloc)
    cv.handshake()
    items = [cv.ack("c"), cv.ack("s"), cv.send("c", 10)]
    out.append(scenario("tcp_pickup_pure_ack", items))
    cv = conv(alloc)
    cv.handshake()
    out.append(scenario("tcp_pickup_fin", [cv.fin("c"), cv.ack("s"), cv.fin("s"), cv.ack("c")]))
    return out


def windows(alloc):
    out = []
    for v6 in (False, True):
        fam = "v6" if v6 else "v4"
        cv = conv(alloc, v6)
        out.append(scenario(f"tcp_out_of_window_{fam}", established(cv) + [cv.out_of_window("c"),
                            cv.out_of_window("s"), cv.send("c", 10), cv.ack("s")]))
        cv = conv(alloc, v6)
        items = established(cv)
        old = (cv.sides["c"].nxt - 300000) & 0xFFFFFFFF
        out.append(scenario(f"tcp_below_window_{fam}", items + [cv.segment("c", "PA", bytes(10), seq=old,
                                                                            advance=False), cv.send("c", 10)]))
    cv = conv(alloc, wscale_c=7, wscale_s=7, win_c=1 << 20, win_s=1 << 20)
    items = established(cv) + [cv.send("c", 1400) for _ in range(60)] + [cv.ack("s")]
    out.append(scenario("tcp_window_scaling_large_flight", items))
    cv = conv(alloc, wscale_c=None, wscale_s=None, win_c=8192, win_s=8192)
    items = established(cv) + [cv.send("c", 1400) for _ in range(8)] + [cv.ack("s")]
    out.append(scenario("tcp_unscaled_window_overrun", items))
    cv = conv(alloc)
    items = established(cv)
    seq0 = cv.sides["c"].nxt
    items += [cv.send("c", 1000), cv.send("c", 1000), cv.send("c", 1000)]
    sack = [((seq0 + 1000) & 0xFFFFFFFF, (seq0 + 3000) & 0xFFFFFFFF)]
    items += [cv.segment("s", "A", ack=seq0 + 1000 if False else seq0, opts=[("nop",), ("nop",), ("sack", sack)])]
    items += [cv.segment("c", "PA", bytes(1000), seq=seq0, advance=False), cv.ack("s")]
    out.append(scenario("tcp_sack_hole_and_retransmit", items))
    cv = conv(alloc)
    items = established(cv)
    s = cv.sides["c"].nxt
    items += [cv.segment("s", "A", opts=[("nop",), ("nop",), ("sack", [((s + 50000) & 0xFFFFFFFF,
                                                                         (s + 60000) & 0xFFFFFFFF)])])]
    out.append(scenario("tcp_sack_beyond_sent_data", items + [cv.send("c", 10)]))
    cv = conv(alloc)
    items = established(cv)
    items += [cv.segment("s", "A", win=0), cv.send("c", 1), cv.segment("s", "A", win=0),
              cv.ack("s"), cv.send("c", 100), cv.ack("s")]
    out.append(scenario("tcp_zero_window_probe", items))
    cv = conv(alloc)
    items = established(cv) + [cv.send("c", 500)]
    items += [cv.retransmit("c"), cv.retransmit("c"), cv.retransmit("c"), cv.retransmit("c"), cv.ack("s")]
    out.append(scenario("tcp_data_retransmissions", items))
    cv = conv(alloc)
    items = established(cv) + [cv.send("c", 500)]
    items += [cv.retransmit("c") for _ in range(5)]
    out.append(scenario("tcp_retransmissions_unacked_max_retrans", items))
    cv = conv(alloc)
    items = established(cv) + [cv.send("s", 700), cv.send("s", 700)]
    out.append(scenario("tcp_unacknowledged_data_from_server", items))
    cv = conv(alloc)
    items = established(cv) + [cv.send("c", 100)]
    items.append(cv.segment("s", "A", ack=(cv.sides["c"].nxt + 100000) & 0xFFFFFFFF))
    out.append(scenario("tcp_ack_of_unsent_data", items + [cv.ack("s")]))
    cv = conv(alloc)
    items = established(cv) + [cv.ack("c"), cv.ack("c"), cv.ack("c")]
    out.append(scenario("tcp_duplicate_acks", items))
    return out


def flags_and_checksums(alloc):
    out = []
    bad = {"syn_fin": "SF", "syn_rst": "SR", "null": 0, "xmas": "FPU", "fin_no_ack": "F",
           "rst_fin": "RF", "syn_fin_ack": "SFA", "urg_only": "U", "psh_only": "P"}
    for name, fl in bad.items():
        cv = conv(alloc)
        out.append(scenario(f"tcp_flags_{name}_new", [cv.segment("c", fl)]))
        cv = conv(alloc)
        out.append(scenario(f"tcp_flags_{name}_established", established(cv) + [
            cv.segment("c", fl, advance=False), cv.send("c", 10), cv.ack("s")]))
    for v6 in (False, True):
        fam = "v6" if v6 else "v4"
        cv = conv(alloc, v6)
        out.append(scenario(f"tcp_bad_checksum_syn_{fam}", [cv.segment("c", "S", bad_csum=True, advance=False),
                                                            cv.syn(), cv.syn_ack(), cv.ack("c")]))
        cv = conv(alloc, v6)
        out.append(scenario(f"tcp_bad_checksum_data_{fam}", established(cv) + [
            cv.segment("c", "PA", bytes(10), bad_csum=True, advance=False), cv.send("c", 10), cv.ack("s")]))
    cv = conv(alloc)
    out.append(scenario("tcp_bad_checksum_rst", established(cv) + [
        cv.segment("c", "RA", bad_csum=True, advance=False), cv.send("c", 10)]))
    return out


def scenarios(alloc):
    return (lifecycle(alloc) + handshakes(alloc) + resets(alloc) + reopen(alloc) + pickup(alloc)
            + windows(alloc) + flags_and_checksums(alloc))
