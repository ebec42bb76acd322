"""The kernel harness against facts of kernel-conntrack.md / kernel-oracle.md (root only)."""
from __future__ import annotations

import pytest

from ctscope.craft import (TcpConversation, eth, icmp6_echo, icmp6_error, icmp_echo, icmp_error,
                           ipv4, ipv6, sctp, udp, udplite)
from ctscope.craft import Scenario
from ctscope.engine.layout import CT_NEW, CT_NOT_SEEN, FATE_FORWARDED, FATE_ROUTING_DROP
from ctscope.errors import InputError
from ctscope.kernel import KernelHarness
from ctscope.kernel.table import canon

pytestmark = pytest.mark.kernel

C4, S4 = "198.18.0.1", "198.19.0.1"
C6, S6 = "2001:db8:c::1", "2001:db8:5::1"


def steps(h, items):
    """Run (side, frame) items one per run(); -> [(ctinfo, entry of the flow)]."""
    out = []
    for side, frame in items:
        r = h.run([(0.0, side, frame)])
        assert r.table_problems == [] and r.capture_drops == 0
        entry = r.table[0] if len(r.table) == 1 else None
        out.append((r.frames[0].ctinfo, entry))
    return out


@pytest.mark.parametrize("client,server", [(C4, S4), (C6, S6)], ids=["v4", "v6"])
def test_tcp_lifecycle(client, server):
    conv = TcpConversation(client, server, 40000, 80)
    items = conv.handshake() + [conv.send("c", 100), conv.ack("s"), conv.send("s", 100), conv.ack("c")]
    items += conv.close("c")
    expect = [("NEW", "SYN_SENT", ["UNREPLIED"], 120), ("ESTABLISHED_REPLY", "SYN_RECV", [], 60),
              ("ESTABLISHED", "ESTABLISHED", ["ASSURED"], 432000),
              ("ESTABLISHED", "ESTABLISHED", ["ASSURED"], 300),        # unacknowledged data
              ("ESTABLISHED_REPLY", "ESTABLISHED", ["ASSURED"], 432000),
              ("ESTABLISHED_REPLY", "ESTABLISHED", ["ASSURED"], 300),
              ("ESTABLISHED", "ESTABLISHED", ["ASSURED"], 432000),
              ("ESTABLISHED", "FIN_WAIT", ["ASSURED"], 120),
              ("ESTABLISHED_REPLY", "CLOSE_WAIT", ["ASSURED"], 60),
              ("ESTABLISHED_REPLY", "LAST_ACK", ["ASSURED"], 30),
              ("ESTABLISHED", "TIME_WAIT", ["ASSURED"], 120)]
    with KernelHarness() as h:
        r = h.run([(0, s, f) for s, f in items], step=True)     # ctnetlink GET after each frame
    got = [(f.ctinfo, f.entry) for f in r.frames]
    for (ctinfo, e), (want_ct, state, flags, timeout) in zip(got, expect):
        assert (ctinfo, e["state"], e["flags"]) == (want_ct, state, flags)
        assert timeout - 2 <= e["timeout"] <= timeout
    assert got[0][1]["tcp"]["wscale_orig"] == 7 and got[-1][1]["tcp"]["wscale_reply"] == 7
    assert (r.table[0]["orig"]["packets"], r.table[0]["reply"]["packets"]) == (6, 5)
    assert [f.count for f in r.frames] == [1] * len(items)
    assert r.table[0]["state"] == "TIME_WAIT" and r.count == 1


def test_tcp_invalid_segments_do_not_change_the_entry():
    conv = TcpConversation(C4, S4, 40001, 80)
    items = conv.handshake()
    bad = [conv.out_of_window("c"), conv.segment("c", "PA", b"x" * 10, bad_csum=True, advance=False)]
    with KernelHarness() as h:
        r0 = h.run([(0, s, f) for s, f in items])
        r = h.run([(0, s, f) for s, f in bad])
        assert r.ctinfos() == ["INVALID", "INVALID"]
        assert r.fates() == ["forwarded", "forwarded"]          # policy accept
        assert r.stats_delta["invalid"] == 2
        assert canon(r.table) == canon(r0.table)
        assert h.stats_netlink() == h.stats()             # ctnetlink and /proc sums agree


def test_udp_one_way_then_reply_back_to_back():
    a = eth(ipv4(C4, S4, udp(5000, 53, b"q")))
    b = eth(ipv4(S4, C4, udp(53, 5000, b"r")))
    with KernelHarness() as h:
        got = steps(h, [("c", a), ("c", a), ("s", b), ("c", a)])
    assert [g[0] for g in got] == ["NEW", "NEW", "ESTABLISHED_REPLY", "ESTABLISHED"]
    assert got[0][1]["flags"] == ["UNREPLIED"] and 28 <= got[0][1]["timeout"] <= 30
    assert got[2][1]["flags"] == [] and got[3][1]["flags"] == []      # never ASSURED back to back
    assert 28 <= got[3][1]["timeout"] <= 30


@pytest.mark.parametrize("max_gap,assured", [(None, True), (0.5, False)], ids=["realtime", "max_gap"])
def test_udp_two_second_stream_rule(max_gap, assured):
    a = eth(ipv4(C4, S4, udp(5001, 53, b"q")))
    b = eth(ipv4(S4, C4, udp(53, 5001, b"r")))
    frames = [(0.0, "c", a), (0.2, "s", b), (2.3, "c", a)]
    with KernelHarness() as h:
        r = h.run(frames, realtime=True, max_gap=max_gap)
    e = r.table[0]
    sent = r.frames[2].t_sent
    if assured:
        assert sent >= 2.3 and e["flags"] == ["ASSURED"] and 118 <= e["timeout"] <= 120
    else:
        assert 0.6 <= sent < 1.0 and e["flags"] == [] and e["timeout"] <= 30


@pytest.mark.parametrize("v6", [False, True], ids=["v4", "v6"])
def test_icmp_echo_and_port_unreachable(v6):
    c, s = (C6, S6) if v6 else (C4, S4)
    ip = ipv6 if v6 else ipv4
    echo, error = (icmp6_echo, icmp6_error) if v6 else (icmp_echo, icmp_error)
    unreach = (1, 4) if v6 else (3, 3)
    q = ip(c, s, udp(5002, 53, b"q"))
    frames = [(0, None, eth(ip(c, s, echo(77, 1, b"ping")))),
              (0, None, eth(ip(s, c, echo(77, 1, b"ping", reply=True)))),
              (0, None, eth(q)), (0, None, eth(ip(s, c, error(*unreach, q))))]
    with KernelHarness() as h:
        r = h.run(frames)
    assert [f.side for f in r.frames] == ["c", "s", "c", "s"]           # sides inferred per flow
    assert r.ctinfos() == ["NEW", "ESTABLISHED_REPLY", "NEW", "RELATED_REPLY"]
    icmp_e = [e for e in r.table if e["proto"].startswith("icmp")][0]
    udp_e = r.entries(dport=53)[0]
    assert icmp_e["flags"] == [] and icmp_e["orig"]["id"] == 77
    assert icmp_e["orig"]["type"] == (128 if v6 else 8) and icmp_e["reply"]["type"] == (129 if v6 else 0)
    assert udp_e["flags"] == ["UNREPLIED"]                           # RELATED does not clear it
    assert r.table_problems == [] and r.count == 2


def test_broadcast_and_multicast_are_delivered_locally_and_scored():
    dsts = [(C4, "255.255.255.255"), (C4, "224.0.0.1"), (C6, "ff02::1"), (C6, "ff02::2"), (C6, "ff05::2")]
    frames = [(0, "c", eth((ipv6 if ":" in d else ipv4)(s, d, udp(6000 + i, 7000, b"x"))))
              for i, (s, d) in enumerate(dsts)]
    frames.append((0, "c", eth(ipv4(C4, S4, udp(6100, 7000, b"x")))))   # control: forwarded
    with KernelHarness() as h:
        r = h.run(frames)
        counters = h.verdict_counters()
    assert {k: v for k, v in counters.items() if v} == {"in:v4:NEW": 2, "in:v6:NEW": 3, "fwd:v4:NEW": 1}
    assert r.fates() == ["local"] * 5 + ["forwarded"]
    assert r.ctinfos() == ["NEW"] * 6
    assert [f.out_side for f in r.frames] == ["c"] * 5 + ["s"]
    assert r.count == 6 and r.table_problems == []


def test_ttl_one_is_unscorable_and_leaves_no_entry():
    frames = [(0, "c", eth(ipv4(C4, S4, udp(5003, 53, b"x"), ttl=1))),
              (0, "c", eth(ipv6(C6, S6, udp(5004, 53, b"x"), hlim=1))),
              (0, "c", eth(ipv4(C4, S4, udp(5005, 53, b"x"), ttl=2)))]
    with KernelHarness() as h:
        r = h.run(frames)
    assert r.fates() == ["dropped", "dropped", "forwarded"]
    assert r.ctinfos() == ["unscorable", "unscorable", "NEW"]
    assert all("TTL" in f.reason for f in r.frames[:2])
    assert r.count == 1 and not any(r.stats_delta.values())
    ct, fate = r.codes()
    assert list(ct) == [CT_NOT_SEEN, CT_NOT_SEEN, CT_NEW]
    assert list(fate) == [FATE_ROUTING_DROP, FATE_ROUTING_DROP, FATE_FORWARDED]


def _notrack_frames():
    return [(0, "c", eth(ipv4(C4, S4, udp(5006, 5353, b"m")))),
            (0, "c", eth(ipv6(C6, S6, udp(5007, 5353, b"m")))),
            (0, "c", eth(ipv4(C4, S4, udp(5008, 53, b"q"))))]


@pytest.mark.parametrize("how", ["nft", "iptables"])
def test_notrack_gives_untracked(how):
    if how == "nft":
        kw = {"rules_nft": "udp dport 5353 notrack"}
    else:
        kw = {"rules_ipt4": "*raw\n-A PREROUTING -p udp --dport 5353 -j NOTRACK\nCOMMIT\n",
              "rules_ipt6": "*raw\n-A PREROUTING -p udp --dport 5353 -j CT --notrack\nCOMMIT\n"}
    with KernelHarness(**kw) as h:
        r = h.run(_notrack_frames())
    assert r.ctinfos() == ["UNTRACKED", "UNTRACKED", "NEW"]
    assert [e["orig"]["dport"] for e in r.table] == [53]
    assert not any(r.stats_delta.values())


def test_settings_are_pinned_per_netns_and_globals_refused():
    with KernelHarness({"net.netfilter.nf_conntrack_udp_timeout": 45}) as h:
        r = h.run([(0, "c", eth(ipv4(C4, S4, udp(5009, 53, b"q"))))])
        assert r.sysctls["nf_conntrack_udp_timeout"] == "45"
        assert 43 <= r.table[0]["timeout"] <= 45
    with open("/proc/sys/net/netfilter/nf_conntrack_max") as f:
        host_max = int(f.read())
    with pytest.raises(InputError):
        KernelHarness({"nf_conntrack_max": host_max + 1})


def test_sctp_udplite_gre_checksums_accepted_by_the_kernel():
    init = sctp.sctp(5000, 80, 0, [sctp.init(0x1111)])
    bad_init = sctp.sctp(5001, 80, 0, [sctp.init(0x1111)], bad_csum=True)
    frames = [(0, "c", eth(ipv4(C4, S4, init))), (0, "c", eth(ipv4(C4, S4, bad_init))),
              (0, "c", eth(ipv4(C4, S4, udplite(7, 8, b"abc", kernel_pseudo=True)))),
              (0, "c", eth(ipv4(C4, S4, udplite(9, 8, b"abc")))),      # RFC pseudo header: 6.18 says INVALID
              (0, "c", eth(ipv6(C6, S6, udp(10, 8, b"abc"))))]
    with KernelHarness() as h:
        r = h.run(frames)
    assert r.ctinfos() == ["NEW", "INVALID", "NEW", "INVALID", "NEW"]
    assert sorted(e["proto"] for e in r.table) == ["sctp", "udp", "udplite"]


def test_table_read_back_agrees_between_proc_and_ctnetlink():
    frames = []
    for i in range(50):
        conv = TcpConversation(f"198.18.1.{i}", S4, 41000 + i, 443)
        frames += [(0, s, f) for s, f in conv.handshake()]
        frames.append((0, "c", eth(ipv4(f"198.18.2.{i}", S4, udp(5100 + i, 53, b"q")))))
    with KernelHarness() as h:
        r = h.run(frames)
        pyroute2_dump = h.nl.dump_pyroute2()
    assert r.count == 100 and len(r.table) == 100 and len(r.table_netlink) == 100
    assert r.table_problems == []
    assert canon(r.table) == canon(r.table_netlink)
    assert canon(pyroute2_dump) == canon(r.table)                # independent decoder agrees
    assert sum(1 for e in r.table if e["state"] == "ESTABLISHED" and e["flags"] == ["ASSURED"]) == 50


def test_scenario_settings_rules_and_clock():
    sc = Scenario("dns", settings={"nf_conntrack_udp_timeout": 20}, rules_nft="udp dport 5353 notrack")
    sc.add(0.0, "c", eth(ipv4(C4, S4, udp(5010, 53, b"q"))))
    sc.add(0.3, "s", eth(ipv4(S4, C4, udp(53, 5010, b"r"))))
    sc.add(0.3, "c", eth(ipv4(C4, S4, udp(5011, 5353, b"m"))))
    with KernelHarness.for_scenario(sc) as h:
        r = h.run(sc, realtime=True)
    assert r.ctinfos() == ["NEW", "ESTABLISHED_REPLY", "UNTRACKED"]
    assert 18 <= r.table[0]["timeout"] <= 20
    sent = r.sent_ns()
    assert sent[0] >= 0 and 0.29e9 <= sent[1] - sent[0] <= 0.5e9


def test_pcap_replay_infers_sides_like_the_scenario(tmp_path):
    from ctscope.craft import write_pcap
    conv = TcpConversation(C4, S4, 40100, 80)
    sc = Scenario("pcap").extend(conv.handshake() + [conv.send("s", 10), conv.ack("c")], t=0.0, dt=0.001)
    write_pcap(sc, str(tmp_path / "x.pcap"))
    with KernelHarness() as h:
        r = h.run_pcap(str(tmp_path / "x.pcap"))
    assert [f.side for f in r.frames] == [s for _, s, _ in sc]
    assert r.ctinfos() == ["NEW", "ESTABLISHED_REPLY", "ESTABLISHED", "ESTABLISHED_REPLY", "ESTABLISHED"]


def test_sctp_association_with_vtags_through_the_state_machine():
    def c(vtag, *chunks):
        return (0, "c", eth(ipv4(C4, S4, sctp.sctp(5000, 80, vtag, list(chunks)))))

    def s(vtag, *chunks):
        return (0, "s", eth(ipv4(S4, C4, sctp.sctp(80, 5000, vtag, list(chunks)))))

    frames = [c(0, sctp.init(0x1111)), s(0x1111, sctp.init_ack(0x2222)), c(0x2222, sctp.cookie_echo()),
              s(0x1111, sctp.cookie_ack()), c(0x2222, sctp.data(1)), c(0x9999, sctp.data(2)),   # bad vtag
              c(0x2222, sctp.shutdown(1)), s(0x1111, sctp.shutdown_ack()), c(0x2222, sctp.shutdown_complete())]
    with KernelHarness() as h:
        r = h.run(frames, step=True)
    states = [f.entry["state"] for f in r.frames]
    assert states[3] == "ESTABLISHED" and r.frames[3].entry["flags"] == ["ASSURED"]
    assert 208 <= r.frames[3].entry["timeout"] <= 210                 # sctp_timeout_established
    assert r.frames[5].ctinfo == "INVALID" and states[5] == "ESTABLISHED"
    assert states[6:] == ["SHUTDOWN_SENT", "SHUTDOWN_ACK_SENT", "CLOSED"]


def test_gre_v0_unreplied_then_stream_timeout():
    from ctscope.craft import gre
    inner = b"\x45" + b"\0" * 19
    frames = [(0, "c", eth(ipv4(C4, S4, gre(inner)))), (0, "s", eth(ipv4(S4, C4, gre(inner)))),
              (0, "c", eth(ipv4(C4, S4, gre(inner, key=None))))]
    with KernelHarness() as h:
        r = h.run(frames, step=True)
    got = [(f.ctinfo, f.entry["flags"], f.entry["timeout"]) for f in r.frames]
    assert got[0][:2] == ("NEW", ["UNREPLIED"]) and 28 <= got[0][2] <= 30
    assert got[1][:2] == ("ESTABLISHED_REPLY", []) and 28 <= got[1][2] <= 30   # first reply: still 30
    assert got[2][:2] == ("ESTABLISHED", ["ASSURED"]) and 178 <= got[2][2] <= 180
    assert r.table[0]["proto"] == "gre" and r.table[0]["orig"]["sport"] == 0   # v0: keys 0
