"""Live readers against fixture files: each reads what it can and says why not."""
import os

import pytest

from ctscope.errors import InputError
from ctscope.formats import format_proc, parse_line
from ctscope.live.config import scan_config
from ctscope.live.kmsg import kernel_log, parse_dmesg_line, parse_kmsg_record, scan
from ctscope.live.module import module_state
from ctscope.live.netns import read_netns
from ctscope.live.slab import parse_slabinfo, read_slab
from ctscope.live.sysctl import read_sysctls
from ctscope.live.tables import read_stat, read_table
from test_formats_roundtrip import PROC
from test_formats_stats import PROC_STAT


def _write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(text)
    return path


def test_sysctls(tmp_path):
    d = tmp_path / "netfilter"
    for name, value in (("nf_conntrack_max", "262144"), ("nf_conntrack_count", "17"),
                        ("nf_conntrack_buckets", "65536"), ("nf_log_all_netns", "0")):
        _write(d, name, value + "\n")
    (d / "nf_log").mkdir()
    r = read_sysctls(str(d), alias=str(tmp_path / "none"), hashsize=str(tmp_path / "hs"))
    assert (r.max, r.count, r.buckets) == (262144, 17, 65536) and r.hashsize is None
    assert [p.what for p in r.problems] == [str(tmp_path / "hs")]
    missing = read_sysctls(str(tmp_path / "nope"), alias=str(tmp_path / "nope2"), hashsize=str(tmp_path / "hs"))
    assert missing.max is None and "does not exist" in missing.problems[0].why


def test_stat_file(tmp_path):
    t, problems = read_stat(_write(tmp_path, "stat", PROC_STAT))
    assert t.totals()["drop"] == 0x15 and not problems
    t, problems = read_stat(str(tmp_path / "missing"))
    assert t is None and "conntrack -S" in problems[0].why
    t, problems = read_stat(_write(tmp_path, "bad", "garbage\n"))
    assert t is None and "header" in problems[0].why


def test_table_dedupe_and_count(tmp_path):
    lines = PROC.splitlines()
    again = parse_line(lines[2])
    again.timeout, again.orig_packets = 431990, 99          # same entry seen twice in one dump
    path = _write(tmp_path, "t", "\n".join(lines + [format_proc(again)]) + "\n")
    r = read_table(path, count=len(lines) + 2)
    assert (r.lines, r.unique, r.duplicates) == (len(lines) + 1, len(lines), 1)
    assert "above" in r.note and r.summary.total == len(lines) + 1
    assert read_table(path, count=len(lines)).note.startswith("nf_conntrack_count matches")
    bad = _write(tmp_path, "bad", PROC.replace("sport=49686", "sport=x"))
    assert read_table(bad).problems and read_table(str(tmp_path / "no")).problems


KLOG = """\
[ 1234.500000] nf_conntrack: nf_conntrack: table full, dropping packet
[ 1234.600000] nf_conntrack: table full, dropping packet
[ 1240.000000] net_ratelimit: 345 callbacks suppressed
[ 1241.000000] nf_conntrack: nf_conntrack: table full in netns 4026532246, dropping packet
[ 1242.000000] eth0: link up
[ 1250.000000] nf_conntrack: 7 callbacks suppressed
"""


def test_kernel_log_scan():
    rep = scan(map(parse_dmesg_line, KLOG.splitlines()))
    assert rep.table_full == 3 and rep.by_netns == {"init": 2, "4026532246": 1}
    assert rep.suppressed == {"net_ratelimit": 345, "nf_conntrack": 7}
    assert rep.first_usec == 1234_500000 and rep.last_usec == 1241_000000
    assert parse_kmsg_record("4,812,1241000000,-;nf_conntrack: table full, dropping packet\n") == (
        1241000000, "nf_conntrack: table full, dropping packet")


def test_kernel_log_falls_back_to_dmesg(tmp_path):
    log = _write(tmp_path, "dmesg.txt", KLOG)
    rep = kernel_log(kmsg=str(tmp_path / "no-kmsg"), dmesg=("cat", log))
    assert rep.source == f"cat {log}" and rep.table_full == 3
    assert rep.problems[0].what.endswith("no-kmsg")
    rep = kernel_log(kmsg=str(tmp_path / "no-kmsg"), dmesg=(str(tmp_path / "no-dmesg"),))
    assert rep.table_full == 0 and len(rep.problems) == 2


SLABINFO = """\
slabinfo - version: 2.1
# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>
nf_conntrack_expect      0      0    232   17    1 : tunables    0    0    0 : slabdata      0      0      0
nf_conntrack        1000   1024    256   16    1 : tunables    0    0    0 : slabdata     64     64      0
"""


def test_slab(tmp_path):
    r = parse_slabinfo(SLABINFO)
    assert (r.active_objs, r.num_objs, r.objsize, r.objperslab) == (1000, 1024, 256, 16)
    assert r.bytes_in_use == 64 * 4096
    sysfs = tmp_path / "slab"
    _write(sysfs, "object_size", "256\n")
    r = read_slab(slabinfo=str(tmp_path / "none"), sysfs=str(sysfs))
    assert r.objsize == 256 and r.active_objs is None and len(r.problems) == 3


def test_module_state(tmp_path):
    sysmod = tmp_path / "sys"
    (sysmod / "nf_conntrack" / "parameters").mkdir(parents=True)
    cmd = _write(tmp_path, "cmdline", "quiet nf_conntrack.hashsize=65536\n")
    st = module_state(str(tmp_path / "nomods"), str(sysmod), str(tmp_path / "lib"), cmd)
    assert st.kind == "builtin" and st.cmdline_options == ["nf_conntrack.hashsize=65536"]
    (sysmod / "nf_conntrack" / "initstate").write_text("live\n")
    mods = _write(tmp_path, "modules", "nf_conntrack 180224 3 nf_nat, Live 0x0\n")
    assert module_state(mods, str(sysmod), str(tmp_path / "lib"), cmd).kind == "module-loaded"
    lib = tmp_path / "lib"
    _write(lib, "modules.dep", "kernel/net/netfilter/nf_conntrack.ko: kernel/lib/libcrc32c.ko\n")
    st = module_state(str(tmp_path / "nomods"), str(tmp_path / "nosys"), str(lib), cmd)
    assert st.kind == "module-available"
    _write(lib, "modules.builtin", "kernel/net/netfilter/nf_conntrack.ko\n")
    assert module_state(str(tmp_path / "nomods"), str(tmp_path / "nosys"), str(lib), cmd).kind == "builtin"


def test_config_scan(tmp_path):
    root = str(tmp_path)
    _write(root, "usr/lib/sysctl.d/50-default.conf", "net.netfilter.nf_conntrack_max = 65536\nkernel.x = 1\n")
    _write(root, "etc/sysctl.d/50-default.conf", "# admin copy wins over /usr/lib\nnet.netfilter.nf_conntrack_max = 131072\n")
    _write(root, "etc/sysctl.d/90-ct.conf", "net/netfilter/nf_conntrack_tcp_timeout_established=7200\n-net.nf_conntrack_max = 524288\n")
    _write(root, "etc/sysctl.conf", "net.netfilter.nf_conntrack_max=1048576\n")
    _write(root, "etc/modprobe.d/ct.conf", "options nf_conntrack hashsize=262144 expect_hashsize=1024\nblacklist nf_conntrack_ftp\n")
    _write(root, "etc/modules-load.d/ct.conf", "# load early\nnf_conntrack\nbr_netfilter\n")
    rep = scan_config(root)
    assert rep.effective == {"net.netfilter.nf_conntrack_max": "1048576",
                             "net.netfilter.nf_conntrack_tcp_timeout_established": "7200",
                             "net.nf_conntrack_max": "524288"}
    sysctl_paths = [f.path for f in rep.findings if f.kind == "sysctl"]
    assert not any("/usr/lib/" in p for p in sysctl_paths)
    opts = {f.key: f.value for f in rep.findings if f.kind == "modprobe-options"}
    assert opts == {"hashsize": "262144", "expect_hashsize": "1024"}
    assert [f.key for f in rep.findings if f.kind == "modules-load"] == ["nf_conntrack"]
    assert not [f for f in rep.findings if f.kind == "modprobe-block"]   # nf_conntrack_ftp is another module


def test_netns_name_checks():
    with pytest.raises(InputError):
        read_netns("../etc")
    with pytest.raises(InputError):
        read_netns("ctsc-fmt-does-not-exist")


def test_netns_helper_still_reading_is_killed_at_exit(tmp_path):
    """Ctrl-C in top during a --netns reading: the helper must not outlive ctscope."""
    import subprocess
    import sys
    import time
    pidfile = tmp_path / "helper.pid"
    child = f"import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    prog = "\n".join([
        "import os, sys, threading, time",
        "from ctscope.live import netns",
        f"slow = [sys.executable, '-c', {child!r}]",
        "threading.Thread(target=netns._run_helper, args=(slow, None, 120), daemon=True).start()",
        "t = time.monotonic()",
        f"while not os.path.exists({str(pidfile)!r}) and time.monotonic() - t < 20: time.sleep(0.05)",
    ])
    subprocess.run([sys.executable, "-c", prog], timeout=60, check=True)
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    alive = True
    while alive and time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                alive = f.read().split(") ")[1][0] not in "ZX"
        except FileNotFoundError:
            alive = False
        time.sleep(0.05)
    if alive:
        os.kill(pid, 9)
    assert not alive, "the helper outlived the process that started it"
