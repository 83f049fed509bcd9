"""A DNS server that answers SERVFAIL to every query, over UDP and TCP.

    python3 dns_servfail.py --address 0.0.0.0 --port 53

The lab's faults scenario runs it in place of the lab DNS, so that the mail
hosts meet a resolver that is up but cannot answer: what a broken upstream
or a failing authoritative server looks like from Postfix. It echoes the
query's id and question with RCODE 2 and no records.
"""

import argparse
import socket
import socketserver
import struct
import threading

SERVFAIL = 2


def servfail(query):
    """The SERVFAIL reply to one DNS query in wire format, or None when it is no query."""
    if len(query) < 12:
        return None
    ident, flags, qdcount = struct.unpack("!HHH", query[:6])
    if flags & 0x8000:
        return None
    # Response, the query's opcode and RD bit, RA set, RCODE SERVFAIL.
    reply_flags = 0x8000 | (flags & 0x7900) | 0x0080 | SERVFAIL
    question = _question(query[12:]) if qdcount == 1 else b""
    return struct.pack("!HHHHHH", ident, reply_flags, 1 if question else 0, 0, 0, 0) + question


def _question(data):
    """The first question section (name, type, class) of a query, or b""."""
    offset = 0
    while offset < len(data):
        length = data[offset]
        if length == 0:
            end = offset + 1 + 4
            return data[:end] if end <= len(data) else b""
        if length & 0xC0:
            return b""
        offset += 1 + length
    return b""


class UdpHandler(socketserver.BaseRequestHandler):
    def handle(self):
        query, sock = self.request
        reply = servfail(query)
        if reply is not None:
            sock.sendto(reply, self.client_address)


class TcpHandler(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.settimeout(10)
        try:
            while True:
                head = self.request.recv(2)
                if len(head) < 2:
                    return
                (length,) = struct.unpack("!H", head)
                query = b""
                while len(query) < length:
                    chunk = self.request.recv(length - len(query))
                    if not chunk:
                        return
                    query += chunk
                reply = servfail(query)
                if reply is None:
                    return
                self.request.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            return


class ThreadingUdpServer(socketserver.ThreadingMixIn, socketserver.UDPServer):
    daemon_threads = True
    allow_reuse_address = True


class ThreadingTcpServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--address", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=53)
    args = parser.parse_args()
    udp = ThreadingUdpServer((args.address, args.port), UdpHandler)
    tcp = ThreadingTcpServer((args.address, args.port), TcpHandler)
    threading.Thread(target=tcp.serve_forever, daemon=True).start()
    udp.serve_forever()


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    main()
