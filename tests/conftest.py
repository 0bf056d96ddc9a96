"""conftest.py - pytest fixtures of the integration tests.

  s3              (session) a throwaway Ceph RADOS Gateway that verifies
                  SigV4 like AWS; bucket "presignd-test"; see harness.S3Server
  presignd        (function) factory: presignd(overrides=None, workers=2,
                  start=True, env=None, binary=None) -> harness.Presignd
  presignd_asan   (function) the same factory on $PRESIGND_ASAN_BIN
                  (skips the test when that binary is not available)
  blackhole       (function) a started harness.Blackhole: a TCP server that
                  accepts and never answers (an S3 that hangs); the test may
                  stop() it itself, teardown stops it in any case
  http_stub       (function) factory: http_stub(handler) -> a started
                  harness.HttpStub (a function or a route table answers);
                  http_stub(stub) starts a stub made by the test (such as a
                  harness.ImdsStub); every stub is stopped at teardown
  fault_proxy     (function) a started harness.FaultProxy in front of the
                  `s3` fixture's RGW (see faultproxy.py): point s3.endpoint
                  at its .endpoint; set_faults(error500=..., reset=...,
                  stall=..., only=...) and fail_next() inject faults, and
                  counts() says how many requests (per S3 operation) it
                  received; teardown stops it

Every daemon a test starts is stopped at teardown (TERM, then KILL); a
daemon that does not stop, a worker that outlives its master, or a
sanitizer report in its log fails the test.
"""

import os
import signal

import pytest

import harness


def pytest_configure(config):
    # A TERM to pytest (CI cancelling a job) should still run the fixture
    # finalizers that stop the S3 cluster and the daemons.
    def on_term(signum, frame):
        raise KeyboardInterrupt("SIGTERM")
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, on_term)


@pytest.fixture(scope="session")
def s3(tmp_path_factory):
    server = harness.S3Server(tmp_path_factory.mktemp("s3"))
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _s3_gateway_up(request):
    """A test that stopped radosgw and failed before starting it again must
    not take the tests after it down too."""
    if "s3" in request.fixturenames:
        server = request.getfixturevalue("s3")
        if not server.gateway_running():
            server.start_gateway()
    yield


def _factory(request, s3, tmp_path, default_binary=None):
    started = []

    def make(overrides=None, workers=2, start=True, env=None, binary=None):
        name = "presignd" if not started else "presignd%d" % len(started)
        d = harness.Presignd(s3, tmp_path, overrides=overrides, workers=workers,
                             env=env, binary=binary or default_binary, name=name)
        started.append(d)
        if start:
            d.start()
        return d

    yield make

    problems = []
    for d in started:
        for p in d.teardown():
            problems.append("%s: %s" % (d.config_path, p))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def presignd(request, s3, tmp_path):
    yield from _factory(request, s3, tmp_path)


@pytest.fixture
def presignd_asan(request, s3, tmp_path):
    binary = os.environ.get("PRESIGND_ASAN_BIN")
    if not binary or not os.access(binary, os.X_OK):
        harness.require(False, "PRESIGND_ASAN_BIN is not set to a built sanitizer binary")
    yield from _factory(request, s3, tmp_path, default_binary=binary)


@pytest.fixture
def blackhole():
    b = harness.Blackhole().start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def fault_proxy(s3):
    p = harness.FaultProxy(s3.port).start()
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture
def http_stub():
    made = []

    def make(handler):
        stub = handler if isinstance(handler, harness.HttpStub) else harness.HttpStub(handler)
        stub.start()
        made.append(stub)
        return stub
    try:
        yield make
    finally:
        for stub in made:
            stub.stop()
