"""Tracked connections of a network namespace: list them, delete some (raw ctnetlink).

Listing through pyroute2 costs ~20 ms even when the table is empty; this costs well under a
millisecond, which matters because every policy change that takes a permission away cuts
the flows it no longer allows (`flows`). Works in the namespace of the calling thread.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

NETLINK_NETFILTER = 12
_CTNETLINK = 1 << 8  # NFNL_SUBSYS_CTNETLINK, in the message type's high byte
_CT_GET, _CT_DELETE = 1, 2
_NLM_F_REQUEST, _NLM_F_ACK, _NLM_F_DUMP = 0x1, 0x4, 0x300
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_NLA_TYPE_MASK = 0x3FFF
_CTA_TUPLE_ORIG = 1
_CTA_TUPLE_IP, _CTA_TUPLE_PROTO = 1, 2
_CTA_IP_V4_SRC, _CTA_IP_V4_DST = 1, 2
_CTA_PROTO_NUM, _CTA_PROTO_DST_PORT = 1, 3
_HEADER = struct.Struct("=IHHII")  # nlmsghdr
_NFGEN = struct.Struct("=BBH")  # nfgenmsg: family, version, res_id (big endian, 0 here)
_ATTR = struct.Struct("=HH")


@dataclass(frozen=True)
class Flow:
    """A connection as first seen (its original direction)."""

    source: str
    target: str
    protocol: int  # IPPROTO_*
    port: int | None  # destination port (TCP, UDP, SCTP...)
    tuple_attr: bytes  # the kernel's CTA_TUPLE_ORIG, to name the flow when deleting it


def _attrs(data: bytes) -> Iterator[tuple[int, bytes, bytes]]:
    """(type, payload, whole attribute) for each netlink attribute in `data`."""
    offset = 0
    while offset + _ATTR.size <= len(data):
        length, kind = _ATTR.unpack_from(data, offset)
        if length < _ATTR.size:
            return
        whole = data[offset : offset + length]
        yield kind & _NLA_TYPE_MASK, whole[_ATTR.size :], whole
        offset += (length + 3) & ~3


def _parse(payload: bytes) -> Flow | None:
    for kind, value, whole in _attrs(payload[_NFGEN.size :]):
        if kind != _CTA_TUPLE_ORIG:
            continue
        parts = {k: v for k, v, _ in _attrs(value)}
        ip = {k: v for k, v, _ in _attrs(parts.get(_CTA_TUPLE_IP, b""))}
        proto = {k: v for k, v, _ in _attrs(parts.get(_CTA_TUPLE_PROTO, b""))}
        if _CTA_IP_V4_SRC not in ip or _CTA_IP_V4_DST not in ip or _CTA_PROTO_NUM not in proto:
            return None
        port = proto.get(_CTA_PROTO_DST_PORT)
        return Flow(
            source=socket.inet_ntoa(ip[_CTA_IP_V4_SRC]),
            target=socket.inet_ntoa(ip[_CTA_IP_V4_DST]),
            protocol=proto[_CTA_PROTO_NUM][0],
            port=struct.unpack("!H", port)[0] if port and len(port) == 2 else None,
            tuple_attr=whole,
        )
    return None


def _message(kind: int, flags: int, seq: int, body: bytes) -> bytes:
    payload = _NFGEN.pack(socket.AF_INET, 0, 0) + body
    return _HEADER.pack(_HEADER.size + len(payload), _CTNETLINK | kind, flags, seq, 0) + payload


def _socket() -> socket.socket:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.bind((0, 0))
    return sock


def _replies(sock: socket.socket, until: int) -> Iterator[tuple[int, bytes]]:
    """(type, payload) of each message received, until `until` acks or a DONE."""
    acked = 0
    while True:
        data = sock.recv(1 << 20)
        offset = 0
        while offset + _HEADER.size <= len(data):
            length, kind, _flags, _seq, _pid = _HEADER.unpack_from(data, offset)
            payload = data[offset + _HEADER.size : offset + length]
            offset += (length + 3) & ~3
            if kind == _NLMSG_DONE:
                return
            if kind == _NLMSG_ERROR:
                code = -struct.unpack_from("=i", payload)[0]
                if code not in (0, errno.ENOENT):  # ENOENT: the flow ended meanwhile
                    raise OSError(code, os.strerror(code))
                acked += 1
                if acked >= until:
                    return
                continue
            yield kind, payload


def flows() -> list[Flow]:
    with _socket() as sock:
        sock.send(_message(_CT_GET, _NLM_F_REQUEST | _NLM_F_DUMP, 1, b""))
        found = (_parse(payload) for _kind, payload in _replies(sock, until=1))
        return [flow for flow in found if flow is not None]


def delete(doomed: Iterable[Flow]) -> int:
    messages = [_message(_CT_DELETE, _NLM_F_REQUEST | _NLM_F_ACK, seq, flow.tuple_attr)
                for seq, flow in enumerate(doomed, start=1)]  # fmt: skip
    if not messages:
        return 0
    with _socket() as sock:
        for message in messages:
            sock.send(message)
        for _ in _replies(sock, until=len(messages)):
            pass
    return len(messages)
