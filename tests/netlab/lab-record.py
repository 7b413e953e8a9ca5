#!/usr/bin/env python3
# lab-record.py - tests/qemu/record.py, allowed to use the lab's private
# addresses as well as loopback.
#
# record.py refuses anything but loopback so that a test never opens a
# port to the network.  In the netlab the recorders must listen on, or
# connect to, a veth address inside a namespace the test created itself;
# those addresses are in LAB_NET (10.77.0.0/16), which exists only inside
# the lab's namespaces.  Every other check and behaviour is record.py's.
import ipaddress
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "qemu"))
import record  # noqa: E402

LAB_NET = ipaddress.ip_network("10.77.0.0/16")
_loopback_only = record.parse_addr


def parse_addr(text, listening):
    if text.startswith("tcp:"):
        host, _, port = text[4:].rpartition(":")
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if ip is not None and ip in LAB_NET:
            if int(port) == 0 and not listening:
                raise ValueError("target port 0: %s" % text)
            return record.socket.AF_INET, (host, int(port))
    return _loopback_only(text, listening)


record.parse_addr = parse_addr

if __name__ == "__main__":
    sys.exit(record.main())
