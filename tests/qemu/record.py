#!/usr/bin/env python3
# record.py - recording relay between a source and a destination QEMU.
#
# The real-QEMU tests need each migration connection's bytes separately:
# multifd channels, and the return path that rides backwards on the main
# connection.  A socket capture tool would need privileges, so the source
# migrates to this relay instead, and the relay opens one connection to
# the destination per accepted connection and copies both directions,
# writing DIR/connNN.s2d (source to destination) and DIR/connNN.d2s
# (destination to source), NN in accept order.
#
# Order matters: QEMU 7.2's destination tells multifd channels from the
# main channel only by arrival order, so each upstream connection is
# established before the next client is accepted.
#
# Usage:
#   record.py --listen ADDR --target ADDR --dir DIR [--port-file FILE]
#             [--idle SECONDS] [--max-time SECONDS]
# ADDR is tcp:HOST:PORT (PORT 0 picks a free port, written to the port
# file once listening) or unix:PATH.  Only loopback or unix addresses are
# accepted, since tests must not open anything to the network.
#
# Exits 0 after at least one connection was relayed, all connections have
# closed and nothing new arrived for --idle seconds; exits 1 when
# --max-time passes first (everything is closed, the captures are kept),
# or when the target cannot be reached; 2 on usage errors.

import argparse
import ipaddress
import os
import socket
import sys
import threading
import time

CHUNK = 65536


def parse_addr(text, listening):
    """Return (family, sockaddr); raise ValueError for anything else."""
    if text.startswith("unix:"):
        return socket.AF_UNIX, text[5:]
    if text.startswith("tcp:"):
        host, _, port = text[4:].rpartition(":")
        host = host.strip("[]")
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError("only loopback addresses: %s" % text)
        port = int(port)
        if port == 0 and not listening:
            raise ValueError("target port 0: %s" % text)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        return family, (host, port)
    raise ValueError("address must be tcp:HOST:PORT or unix:PATH: %s" % text)


class Pump(threading.Thread):
    """Copy one direction until EOF or error, then half-close the peer."""

    def __init__(self, src, dst, path):
        super().__init__(daemon=True)
        self.src, self.dst, self.path = src, dst, path
        self.nbytes = 0

    def run(self):
        with open(self.path, "wb") as out:
            while True:
                try:
                    data = self.src.recv(CHUNK)
                except OSError:
                    data = b""
                if not data:
                    break
                out.write(data)
                self.nbytes += len(data)
                try:
                    self.dst.sendall(data)
                except OSError:
                    # The receiver went away: keep reading so that what the
                    # sender still writes is recorded, as QEMU wrote it.
                    pass
        try:
            self.dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port-file")
    ap.add_argument("--idle", type=float, default=1.0)
    ap.add_argument("--max-time", type=float, default=120.0)
    args = ap.parse_args()
    try:
        lfam, laddr = parse_addr(args.listen, True)
        tfam, taddr = parse_addr(args.target, False)
    except ValueError as e:
        sys.stderr.write("record.py: %s\n" % e)
        return 2

    deadline = time.monotonic() + args.max_time
    lsock = socket.socket(lfam, socket.SOCK_STREAM)
    if lfam != socket.AF_UNIX:
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(laddr)
    lsock.listen(16)
    lsock.settimeout(0.1)
    if args.port_file:
        port = lsock.getsockname()[1] if lfam != socket.AF_UNIX else 0
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)   # readers never see a partial file

    conns = []            # (client, upstream, [pump, pump])
    last_activity = time.monotonic()
    status = 0
    while True:
        now = time.monotonic()
        if now >= deadline:
            sys.stderr.write("record.py: --max-time reached\n")
            status = 1
            break
        alive = [c for c in conns if any(p.is_alive() for p in c[2])]
        if alive:
            last_activity = now
        elif conns and now - last_activity >= args.idle:
            break
        try:
            client, _ = lsock.accept()
        except socket.timeout:
            continue
        client.settimeout(None)
        n = len(conns)
        up = socket.socket(tfam, socket.SOCK_STREAM)
        up.settimeout(10)
        try:
            up.connect(taddr)
        except OSError as e:
            sys.stderr.write("record.py: connect %s: %s\n" % (args.target, e))
            client.close()
            up.close()
            status = 1
            break
        up.settimeout(None)
        base = os.path.join(args.dir, "conn%02d" % n)
        pumps = [Pump(client, up, base + ".s2d"), Pump(up, client, base + ".d2s")]
        for p in pumps:
            p.start()
        conns.append((client, up, pumps))
        last_activity = time.monotonic()

    for client, up, pumps in conns:
        for s in (client, up):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for p in pumps:
            p.join(5)
        client.close()
        up.close()
    lsock.close()
    for i, (_, _, pumps) in enumerate(conns):
        sys.stderr.write("record.py: conn%02d s2d %d bytes, d2s %d bytes\n"
                         % (i, pumps[0].nbytes, pumps[1].nbytes))
    return status


if __name__ == "__main__":
    sys.exit(main())
