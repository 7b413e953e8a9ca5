#!/usr/bin/env python3
# peer.py - stand-ins for the peers of migproxy in tests that need no QEMU:
#   peer.py listen PORTFILE LOGFILE [SECONDS]
#       a destination: listen on 127.0.0.1 (kernel-picked port written to
#       PORTFILE), append "connection" to LOGFILE for each accepted one and
#       read it to the end; exits after SECONDS (default 60)
#   peer.py send ADDR HEX [SECONDS]
#       a source: connect to ADDR (HOST:PORT or a unix socket path), send
#       the bytes HEX, then wait up to SECONDS (default 10) for the proxy to
#       close; prints "closed MS" or "open"
#   peer.py trickle ADDR FILE BYTES PIECE
#       the first BYTES of FILE in pieces of PIECE bytes, 50 ms apart (so
#       that the proxy reads them one by one), then wait up to 10 s for the
#       proxy to close; prints "closed MS" or "open"
#   peer.py replay ADDR FILE COUNT
#       COUNT times in a row: connect, send FILE, half-close, read until the
#       proxy closes (bounded: 10 s each); prints how many ended closed
import os, socket, sys, threading, time


def connect(addr):
    if addr.startswith("/"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(addr)
        return s
    host, port = addr.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=5)


def wait_closed(s, seconds):
    t0 = time.monotonic()
    s.settimeout(seconds)
    try:
        while s.recv(65536):
            pass
        return int((time.monotonic() - t0) * 1000)
    except socket.timeout:
        return None
    except OSError:
        return int((time.monotonic() - t0) * 1000)


def main():
    cmd = sys.argv[1]
    if cmd == "listen":
        portfile, logfile = sys.argv[2], sys.argv[3]
        seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 60
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(64)
        with open(portfile + ".tmp", "w") as f:
            f.write(str(ls.getsockname()[1]))
        os.rename(portfile + ".tmp", portfile)
        ls.settimeout(0.5)
        end = time.monotonic() + seconds

        def drain(c):
            c.settimeout(seconds)
            try:
                while c.recv(65536):
                    pass
            except OSError:
                pass
            c.close()
        while time.monotonic() < end:
            try:
                c, _ = ls.accept()
            except socket.timeout:
                continue
            with open(logfile, "a") as f:
                f.write("connection\n")
            threading.Thread(target=drain, args=(c,), daemon=True).start()
    elif cmd == "send":
        s = connect(sys.argv[2])
        s.sendall(bytes.fromhex(sys.argv[3]))
        ms = wait_closed(s, float(sys.argv[4]) if len(sys.argv) > 4 else 10)
        print("open" if ms is None else "closed %d" % ms)
    elif cmd == "trickle":
        data = open(sys.argv[3], "rb").read()[:int(sys.argv[4])]
        piece = int(sys.argv[5])
        s = connect(sys.argv[2])
        if s.family != socket.AF_UNIX:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for i in range(0, len(data), piece):
                s.sendall(data[i:i + piece])
                time.sleep(0.05)
        except OSError:
            pass        # closed by the proxy: reported below
        ms = wait_closed(s, 10)
        print("open" if ms is None else "closed %d" % ms)
    elif cmd == "replay":
        data = open(sys.argv[3], "rb").read()
        closed = 0
        for _ in range(int(sys.argv[4])):
            s = connect(sys.argv[2])
            try:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass        # the proxy may close once it has judged the prefix
            if wait_closed(s, 10) is not None:
                closed += 1
            s.close()
        print(closed)
    else:
        sys.exit("unknown command " + cmd)


main()
