"""Reading many datagrams per system call (recvmmsg), and the recv_into fallback."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import pytest

from tsmon_core.mmsg import DatagramReader


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    # A kernel receive timeout, as the netlink sockets have (the fd stays blocking).
    b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("=qq", 0, 200_000))
    yield a, b
    a.close()
    b.close()


@pytest.mark.parametrize("native", [True, False])
def test_reads_queued_datagrams_into_their_slots(
    pair: tuple[socket.socket, socket.socket], native: bool
) -> None:
    sender, receiver = pair
    reader = DatagramReader(receiver, 4, 64, native=native)
    sent = [bytes([i]) * (10 + i) for i in range(6)]
    for datagram in sent:
        sender.send(datagram)
    got: list[bytes] = []
    while len(got) < len(sent):
        slots = reader.read(len(sent) - len(got))
        assert len(slots) <= (4 if native else 1)
        for i, (length, cut) in enumerate(slots):
            assert not cut
            got.append(bytes(reader.buffer[i * 64 : i * 64 + length]))
    assert got == sent
    assert reader.native is native
    reader.close()


def test_recvmmsg_is_used_on_linux(pair: tuple[socket.socket, socket.socket]) -> None:
    sender, receiver = pair
    reader = DatagramReader(receiver, 8, 64)
    assert reader.native
    for i in range(5):
        sender.send(b"x" * (i + 1))
    assert [length for length, _ in reader.read(8)] == [1, 2, 3, 4, 5]  # one call, all five


def test_a_datagram_longer_than_its_slot_is_flagged(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    sender, receiver = pair
    reader = DatagramReader(receiver, 2, 16)
    sender.send(b"a" * 40)
    sender.send(b"b" * 8)
    [(_, cut), (length, fine)] = reader.read(2)
    assert cut and not fine and length == 8
    assert bytes(reader.buffer[:16]) == b"a" * 16 and bytes(reader.buffer[16:24]) == b"b" * 8


@pytest.mark.parametrize("native", [True, False])
def test_nothing_to_read_is_blocking_io_error(
    pair: tuple[socket.socket, socket.socket], native: bool
) -> None:
    _, receiver = pair
    reader = DatagramReader(receiver, 2, 16, native=native)
    with pytest.raises(BlockingIOError):
        reader.read(2, socket.MSG_DONTWAIT)
    with pytest.raises(BlockingIOError):
        reader.read(2)  # the receive timeout ran out


def test_a_filtered_recvmmsg_falls_back_to_recv_into(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    import ctypes
    import errno

    sender, receiver = pair
    reader = DatagramReader(receiver, 4, 64)
    calls: list[int] = []

    def filtered(*_args: object) -> int:  # as under a seccomp filter: ENOSYS, nothing read
        calls.append(1)
        ctypes.set_errno(errno.ENOSYS)
        return -1

    reader._func = filtered
    sender.send(b"hello")
    assert reader.read(4) == [(5, False)] and bytes(reader.buffer[:5]) == b"hello"
    assert calls == [1] and not reader.native  # and it does not try again
