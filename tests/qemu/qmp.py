#!/usr/bin/env python3
# qmp.py - minimal QMP client for the real-QEMU tests (stdlib only).
#
# The tests compare what migdump decodes with what QEMU itself reports, so
# this client has to fetch QEMU's own facts (query-migrate, info ramblock,
# query-status) and drive migrations, nothing more.  Every socket operation
# and every poll loop is bounded so that a hung QEMU fails the test instead
# of hanging meson.
#
# Usage:
#   qmp.py SOCKET COMMAND [JSON-ARGS]     print the command's "return" as JSON
#   qmp.py hmp SOCKET 'HMP COMMAND LINE'  print the HMP text output
#   qmp.py wait SOCKET TIMEOUT            wait until QMP answers on SOCKET
#   qmp.py wait-migration SOCKET TIMEOUT [--until STATUS[,STATUS]] [--sync N]
#                         [--at-least DOTTED.KEY N]
#        poll query-migrate until a status in STATUS (default: completed)
#        is reached (and, with --sync, ram.dirty-sync-count >= N; with
#        --at-least, the counter at DOTTED.KEY, e.g. xbzrle-cache.pages,
#        >= N); stop early on completed/failed/cancelled.  Print the final
#        query-migrate JSON.  Exit 0 when the wanted state was reached, 1
#        otherwise.
#   qmp.py wait-status SOCKET TIMEOUT STATUS[,STATUS]
#        poll query-status until its "status" is one of STATUS; print it.
#   qmp.py ramblocks SOCKET
#        run "info ramblock" and print [{name, page_size, offset, used,
#        total, readonly}] parsed from QEMU's table (sizes in bytes).
#   qmp.py parse-ramblocks            same parse, table text on stdin (used
#                                     for the info_ramblock in facts.json)
#   qmp.py mtree SOCKET
#        run "info mtree" and print {region name: start address} for the
#        first place each region is mapped itself (aliases skipped).  That
#        is the address x-ignore-shared puts in the stream (mr->addr) for
#        regions mapped at top level of a container based at 0.
#
# Exit status: 0 success, 1 QEMU said no / wanted state not reached,
# 2 usage or protocol trouble.

import json
import re
import socket
import sys
import time

IO_TIMEOUT = 30.0       # seconds for any single QMP exchange
POLL_INTERVAL = 0.1


class QMPError(Exception):
    """QEMU answered with an error object, or the conversation broke."""


class QMP:
    def __init__(self, path, timeout=IO_TIMEOUT):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.next_id = 0
        greeting = self._read_message()
        if "QMP" not in greeting:
            raise QMPError("no QMP greeting: %r" % greeting)
        self.execute("qmp_capabilities")

    def close(self):
        self.sock.close()

    def _read_message(self):
        # QMP sends one JSON object per line.
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise QMPError("QMP connection closed by QEMU")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def execute(self, command, arguments=None):
        """Return the "return" member; raise QMPError on an error reply."""
        self.next_id += 1
        msg = {"execute": command, "id": self.next_id}
        if arguments:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        # Events may arrive before the reply; skip them (bounded by the
        # socket timeout on every read).
        while True:
            reply = self._read_message()
            if reply.get("id") != self.next_id:
                continue
            if "error" in reply:
                raise QMPError("%s: %s" % (command, reply["error"].get("desc")))
            return reply.get("return")

    def hmp(self, line):
        return self.execute("human-monitor-command",
                            {"command-line": line})


SIZE_UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
# 7.2: "pc.ram    4 KiB  0x0000000000000000 0x0000000004000000 0x0000000004000000"
# 10.x adds HVA and RO columns.  Anchor on the numeric tail, since the name
# column is right-aligned and a name could in theory contain spaces.
RAMBLOCK_ROW = re.compile(
    r"^\s*(?P<name>\S.*?)\s+(?P<psize>\d+)\s+(?P<unit>B|KiB|MiB|GiB)"
    r"\s+(?P<offset>0x[0-9a-fA-F]+)\s+(?P<used>0x[0-9a-fA-F]+)"
    r"\s+(?P<total>0x[0-9a-fA-F]+)"
    r"(?:\s+(?P<hva>0x[0-9a-fA-F]+))?(?:\s+(?P<ro>ro|rw))?\s*$")


def parse_ramblocks(text):
    """Parse HMP "info ramblock"; raise QMPError on a row we do not know."""
    rows = []
    lines = [l for l in text.replace("\r", "").split("\n") if l.strip()]
    if not lines or "Block Name" not in lines[0]:
        raise QMPError("unexpected info ramblock output: %r" % text[:200])
    for line in lines[1:]:
        m = RAMBLOCK_ROW.match(line)
        if not m:
            raise QMPError("cannot parse info ramblock row: %r" % line)
        rows.append({
            "name": m.group("name"),
            "page_size": int(m.group("psize")) * SIZE_UNITS[m.group("unit")],
            "offset": int(m.group("offset"), 16),
            "used": int(m.group("used"), 16),
            "total": int(m.group("total"), 16),
            # 7.2 has no RO column: null means "not reported"
            "readonly": None if m.group("ro") is None else m.group("ro") == "ro",
        })
    return rows


# "    00000000fffc0000-00000000ffffffff (prio 0, rom): pc.bios"
MTREE_ROW = re.compile(
    r"^\s*(?P<start>[0-9a-fA-F]+)-[0-9a-fA-F]+ \(prio -?\d+, [^)]*\): (?P<rest>.*)$")


def parse_mtree(text):
    """Map region name -> first start address where it is not an alias."""
    addrs = {}
    for line in text.replace("\r", "").split("\n"):
        m = MTREE_ROW.match(line)
        if not m or m.group("rest").startswith("alias "):
            continue
        name = m.group("rest").split(" KVM")[0].strip()
        addrs.setdefault(name, int(m.group("start"), 16))
    return addrs


def wait_socket(path, timeout):
    deadline = time.monotonic() + timeout
    while True:
        try:
            QMP(path, timeout=5).close()
            return True
        except (OSError, QMPError):
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_INTERVAL)


def lookup(info, dotted):
    for key in dotted.split("."):
        info = info.get(key, {}) if isinstance(info, dict) else {}
    return info if isinstance(info, (int, float)) else 0


def wait_migration(path, timeout, until, minimums):
    deadline = time.monotonic() + timeout
    q = QMP(path)
    try:
        while True:
            info = q.execute("query-migrate")
            status = info.get("status")
            if status in until and all(lookup(info, k) >= n for k, n in minimums):
                return info, True
            if status in ("completed", "failed", "cancelled"):
                # terminal: the wanted state can no longer be reached
                return info, False
            if time.monotonic() >= deadline:
                info["qmp.py-timeout"] = True
                return info, False
            time.sleep(POLL_INTERVAL)
    finally:
        q.close()


def wait_status(path, timeout, wanted):
    deadline = time.monotonic() + timeout
    q = QMP(path)
    try:
        while True:
            info = q.execute("query-status")
            if info.get("status") in wanted:
                return info, True
            if time.monotonic() >= deadline:
                return info, False
            time.sleep(POLL_INTERVAL)
    finally:
        q.close()


def usage():
    sys.stderr.write("usage: qmp.py SOCKET COMMAND [JSON-ARGS] | hmp SOCKET LINE"
                     " | wait SOCKET T | wait-migration SOCKET T [--until S]"
                     " [--sync N] [--at-least KEY N] | wait-status SOCKET T S"
                     " | ramblocks SOCKET | mtree SOCKET | parse-ramblocks\n")
    return 2


def main(argv):
    if len(argv) < 2:
        return usage()
    sub = argv[1]
    try:
        if sub == "hmp" and len(argv) == 4:
            q = QMP(argv[2])
            sys.stdout.write(q.hmp(argv[3]))
            q.close()
            return 0
        if sub == "wait" and len(argv) == 4:
            return 0 if wait_socket(argv[2], float(argv[3])) else 1
        if sub == "wait-migration" and len(argv) >= 4:
            until, minimums = ["completed"], []
            rest = argv[4:]
            while rest:
                if rest[0] == "--until" and len(rest) >= 2:
                    until = rest[1].split(",")
                    rest = rest[2:]
                elif rest[0] == "--sync" and len(rest) >= 2:
                    minimums.append(("ram.dirty-sync-count", int(rest[1])))
                    rest = rest[2:]
                elif rest[0] == "--at-least" and len(rest) >= 3:
                    minimums.append((rest[1], int(rest[2])))
                    rest = rest[3:]
                else:
                    return usage()
            info, ok = wait_migration(argv[2], float(argv[3]), until, minimums)
            print(json.dumps(info))
            return 0 if ok else 1
        if sub == "wait-status" and len(argv) == 5:
            info, ok = wait_status(argv[2], float(argv[3]), argv[4].split(","))
            print(json.dumps(info))
            return 0 if ok else 1
        if sub == "ramblocks" and len(argv) == 3:
            q = QMP(argv[2])
            text = q.hmp("info ramblock")
            q.close()
            print(json.dumps(parse_ramblocks(text)))
            return 0
        if sub == "mtree" and len(argv) == 3:
            q = QMP(argv[2])
            text = q.hmp("info mtree")
            q.close()
            print(json.dumps(parse_mtree(text)))
            return 0
        if sub == "parse-ramblocks" and len(argv) == 2:
            print(json.dumps(parse_ramblocks(sys.stdin.read())))
            return 0
        if len(argv) in (3, 4) and not sub.startswith("-"):
            args = json.loads(argv[3]) if len(argv) == 4 else None
            q = QMP(argv[1])
            ret = q.execute(argv[2], args)
            q.close()
            print(json.dumps(ret))
            return 0
        return usage()
    except QMPError as e:
        sys.stderr.write("qmp.py: %s\n" % e)
        return 1
    except (OSError, ValueError) as e:
        sys.stderr.write("qmp.py: %s\n" % e)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
