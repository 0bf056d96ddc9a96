"""Logs to the journal: when JOURNAL_STREAM names presignd's stderr, as
systemd sets it for a unit whose output goes to the journal, every line
written there starts with its syslog priority (<3> error, <4> warn, <6>
info, <7> debug: sd-daemon's convention, which journald turns into the
entry's PRIORITY, so `journalctl -p err` works) and carries no timestamp
(journald stamps each entry itself). Access lines are "<6>" and their JSON.
When JOURNAL_STREAM is unset, malformed or names another file, lines keep
their usual format.

journald's stream socket is stood in for by the harness's log file, which
is presignd's stdout and stderr: JOURNAL_STREAM is set to that file's
"DEVICE:INODE", all that presignd compares with fd 2.
"""
import json
import os
import re
import signal

import harness

LEVELS = {"3": "error", "4": "warn", "6": "info", "7": "debug"}
JOURNAL_LINE = re.compile(r"^<([3467])>\[(error|warn|info|debug)\] "
                          r"presignd(-worker)?\[\d+\]: \S")
ACCESS_LINE = re.compile(r"^<6>(\{.*\})$")
PLAIN_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
                        r"\[(error|warn|info|debug)\] presignd(-worker)?\[\d+\]: \S")


def dev_ino(path):
    st = os.stat(path)
    return "%d:%d" % (st.st_dev, st.st_ino)


def start_with_journal_stream(presignd, tmp_path, value_for_log):
    """Start presignd (log level debug) with JOURNAL_STREAM set to
    VALUE_FOR_LOG(path of the log file its stderr will be), then make it log
    a line of every level: debug (a worker starts), info (start, reload),
    warn (a worker killed), error (a reload refused), and an access line."""
    log = tmp_path / "presignd.log"        # the harness's name for the first daemon
    log.touch()
    d = presignd({"server": {"log_level": "debug"}},
                 env={"JOURNAL_STREAM": value_for_log(str(log))})
    assert d.log_path == str(log)
    assert d.get("/").status_code == 200
    worker = d.worker_pids()[0]
    os.kill(worker, signal.SIGKILL)
    harness.wait_for(lambda: worker not in d.worker_pids() and len(d.worker_pids()) == 2, 10,
                     what="the killed worker to be replaced")
    d.wait_log(r"killed by signal 9")
    d.write_config("server:\n  workers: 0\n")
    d.reload(expect_ok=False)
    return d


def test_lines_carry_their_priority_when_stderr_is_the_journal(presignd, s3, tmp_path):
    d = start_with_journal_stream(presignd, tmp_path, dev_ino)
    lines = [ln for ln in d.log().split("\n") if ln]
    seen = set()
    access = 0
    for line in lines:
        m = JOURNAL_LINE.match(line)
        if m:
            assert LEVELS[m.group(1)] == m.group(2), line
            seen.add(m.group(1))
            continue
        a = ACCESS_LINE.match(line)
        assert a, "neither a priority-prefixed log line nor an access line: %r" % line
        rec = json.loads(a.group(1))
        assert rec["route"] == "/" and rec["status"] == 200, line
        assert "time" in rec
        access += 1
    assert seen == set(LEVELS), "priorities seen: %s\n%s" % (sorted(seen), "\n".join(lines))
    assert access == 1, lines
    # The refused reload is an error, so `journalctl -p err` shows why.
    assert any(ln.startswith("<3>[error] presignd[") and "reload rejected" in ln for ln in lines)
    assert any(ln.startswith("<4>[warn] ") and "killed by signal 9" in ln for ln in lines)


def check_plain(d):
    lines = [ln for ln in d.log().split("\n") if ln]
    levels = set()
    for line in lines:
        assert not line.startswith("<"), line
        m = PLAIN_LINE.match(line)
        if m:
            levels.add(m.group(1))
        else:
            rec = json.loads(line)           # the access line, as is
            assert rec["route"] == "/", line
    assert levels == set(LEVELS.values()), levels


def test_lines_unchanged_when_journal_stream_names_another_file(presignd, s3, tmp_path):
    other = tmp_path / "not-stderr"
    other.touch()
    check_plain(start_with_journal_stream(presignd, tmp_path, lambda _log: dev_ino(other)))


def test_lines_unchanged_when_journal_stream_is_malformed(presignd, s3, tmp_path):
    check_plain(start_with_journal_stream(presignd, tmp_path, lambda log: dev_ino(log) + "x"))
