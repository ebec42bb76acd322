"""The differential runner and ``ctscope verify`` against the real kernel: agreement is
reported as such, and a difference (made here by giving the engine other settings than
the kernel) is found and explained with the entries before and after on both sides."""
from __future__ import annotations

import json

import pytest

from ctscope.cli import main
from ctscope.craft import Scenario, TcpConversation, eth, ipv4, udp, write_pcap
from ctscope.verify import verify_frames
from ctscope.verify import engine as verify_engine

pytestmark = pytest.mark.kernel
C4, S4 = "198.18.3.1", "198.19.3.1"


def _engine_differs(monkeypatch, **override):
    real = verify_engine.engine_settings

    def patched(kernel_settings=None, limits=None):
        s = real(kernel_settings, limits)
        s.values.update(override)
        return s
    monkeypatch.setattr(verify_engine, "engine_settings", patched)


def _pickup():
    cv = TcpConversation(C4, S4, 40000, 80)
    cv.handshake()                                  # not seen: picked up mid-stream
    return [(0.0, s, f) for s, f in [cv.send("c", 10), cv.ack("s"), cv.send("c", 10)]]


def test_agreement_on_a_pickup():
    res = verify_frames(_pickup())
    c = res.comparison
    assert res.agree and (c.scorable, c.matched, c.table_matched) == (3, 3, 1)
    assert res.explanation is None and "AGREE" in res.format()


def test_a_difference_is_found_and_explained(monkeypatch):
    _engine_differs(monkeypatch, nf_conntrack_tcp_loose=0)        # the kernel keeps loose=1
    res = verify_frames(_pickup())
    c = res.comparison
    assert not res.agree and res.first_mismatch.i == 0
    assert res.first_mismatch.kernel[0] == "NEW" and res.first_mismatch.engine[0] == "INVALID"
    assert any(d.startswith("kernel only") for d in c.table_diffs) and c.stats_diffs["invalid"][0] == 0
    x = res.explanation
    assert x["frame"] == 0 and x["kernel"]["before"] is None and x["engine"]["after"] is None
    assert (x["kernel"]["after"]["state"], x["kernel"]["after"]["flags"]) == ("ESTABLISHED", ["UNREPLIED"])
    text = res.format()
    assert "first diverging frame: #0" in text and "DIFFER" in text


def test_timeouts_are_compared_within_two_seconds(monkeypatch):
    frames = [(0.0, "c", eth(ipv4(C4, S4, udp(5000, 53, b"q"))))]
    _engine_differs(monkeypatch, nf_conntrack_udp_timeout=32)     # within the slack
    assert verify_frames(frames).agree
    _engine_differs(monkeypatch, nf_conntrack_udp_timeout=34)     # beyond it
    res = verify_frames(frames)
    assert res.comparison.matched == 1 and res.comparison.table_diffs and not res.agree
    assert "timeout" in res.comparison.table_diffs[0]


def _pcap(tmp_path, gap=0.0):
    cv = TcpConversation(C4, S4, 40001, 80)
    items = cv.handshake() + [cv.send("c", 10), cv.ack("s")] + cv.close("s")
    sc = Scenario("cli", frames=[(k * 0.001 + (gap if k >= 3 else 0), None, f) for k, (_s, f) in enumerate(items)])
    sc.add(sc.frames[-1][0], None, eth(ipv4(C4, S4, udp(5001, 5353, b"m"))))
    write_pcap(sc, str(tmp_path / "c.pcap"))
    return str(tmp_path / "c.pcap")


def test_cli_agrees_with_rules_and_prints_json(tmp_path, capsys):
    rules = tmp_path / "raw.nft"
    rules.write_text("table inet user {\n chain pre {\n  type filter hook prerouting priority raw; policy accept;\n"
                     "  udp dport 5353 notrack\n }\n}\n")
    assert main(["verify", _pcap(tmp_path, gap=3.0), "--rules", str(rules), "--max-gap", "0.2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["agree"] and out["frames"] == 10 and out["matched"] == out["scorable"] == 10
    assert out["table"]["matched"] == 1 and out["inject_seconds"] < 1.0          # the 3 s gap was capped


def test_cli_exit_1_on_a_difference(tmp_path, monkeypatch, capsys):
    _engine_differs(monkeypatch, nf_conntrack_tcp_timeout_time_wait=60)
    assert main(["verify", _pcap(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "DIFFER" in out and "timeout" in out


# --- harness fixes found while building the corpus (regressions) -------------------------

def test_harness_scores_ipv6_atomic_fragments():
    """Conntrack's defragmentation strips an atomic fragment header: the forwarded copy
    has none, and is still matched to the injected frame."""
    from ctscope.craft import ext_fragment, ipv6
    from ctscope.kernel import KernelHarness
    frame = eth(ipv6("2001:db8:c::99", "2001:db8:5::99", udp(5001, 53, b"q"), ext=[ext_fragment(0, False, 5)]))
    with KernelHarness() as h:
        r = h.run([(0.0, "c", frame)])
    assert (r.frames[0].fate, r.frames[0].ctinfo) == ("forwarded", "NEW") and r.unmatched_out == 0
    assert r.table[0]["orig"]["bytes"] == len(frame) - 14 - 8


def test_harness_hop_limit_1_to_all_nodes_is_local_not_a_routing_drop():
    """ff02::1 with hop limit 1 is delivered and confirmed; only the nf_dup copy is lost."""
    from ctscope.craft import ipv6
    from ctscope.engine.layout import CT_NOT_SEEN
    from ctscope.kernel import KernelHarness
    with KernelHarness() as h:
        r = h.run([(0.0, "c", eth(ipv6("2001:db8:c::98", "ff02::1", udp(6000, 7000, b"x"), hlim=1)))])
        counters = h.verdict_counters()
    ct, fate = r.codes()
    assert (ct[0], fate[0]) == (CT_NOT_SEEN, 0) and "nf_dup_ipv6" in r.frames[0].reason
    assert len(r.table) == 1 and counters["in:v6:NEW"] == 1


def test_harness_refuses_frames_beyond_the_link_mtu():
    from ctscope.errors import InputError
    from ctscope.kernel import KernelHarness
    with KernelHarness() as h, pytest.raises(InputError, match="at most 1514"):
        h.run([(0.0, "c", eth(ipv4(C4, S4, udp(1, 2, bytes(1480)))))])


def test_harness_tells_frames_apart_that_differ_only_in_ttl():
    """A TTL-1 copy of a frame is not matched to the forwarded original (match_key)."""
    from ctscope.kernel import KernelHarness
    q1, q = eth(ipv4(C4, S4, udp(5009, 53, b"q"), ttl=1)), eth(ipv4(C4, S4, udp(5009, 53, b"q")))
    with KernelHarness() as h:
        r = h.run([(0.0, "c", q1), (0.0, "c", q)])
    assert [(f.fate, f.ctinfo) for f in r.frames] == [("dropped", "unscorable"), ("forwarded", "NEW")]
    assert r.unmatched_out == 0


def test_harness_scores_each_datagram_of_a_reused_ip_id_on_its_own_fragments():
    from ctscope.craft import fragment4
    from ctscope.kernel import KernelHarness
    first, second = (fragment4(ipv4(C4, S4, udp(5010, 53, bytes(n)), ident=7), 128) for n in (300, 200))
    frames = [(0.0, "c", eth(f)) for f in first] + [(0.0, "s", eth(ipv4(S4, C4, udp(53, 5010, b"r"))))] \
        + [(0.0, "c", eth(f)) for f in second]
    with KernelHarness() as h:
        r = h.run(frames)
    scored = [(f.i, f.ctinfo) for f in r.frames if f.ctinfo != "unscorable"]
    assert scored == [(len(first) - 1, "NEW"), (len(first), "ESTABLISHED_REPLY"),
                      (len(frames) - 1, "ESTABLISHED")]
