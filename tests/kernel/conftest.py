"""Kernel tests: after the session, no namespace of this process may be left."""
import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def no_namespace_left_behind():
    yield
    if os.geteuid() != 0:
        return
    from ctscope.kernel import nsutil
    mine = [n for n in nsutil.list_ours() if n.startswith(f"ctsc-{os.getpid()}-")]
    assert mine == [], f"namespaces left behind: {mine}"
