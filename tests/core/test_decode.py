"""Decoding: every struct version, golden kernel bytes, message framing and malformed input."""

from __future__ import annotations

import contextlib
import errno
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import read_hex
from tsmon_core import abi, decode, encode
from tsmon_core.errors import DecodeError, PermissionDeniedError, TaskGoneError
from tsmon_core.model import TaskStats, clean_comm, layout_class, read_column, same_column

FAMILY = 31
_RANGES = {"H": 2**16, "I": 2**32, "B": 2**8, "Q": 2**64}


def _field_strategy(code: str) -> st.SearchStrategy[object]:
    if code == "b":
        return st.integers(-128, 127)
    if code == "32s":
        return st.text(
            st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=0, max_size=15
        )
    if code == "T":
        return st.integers(0, 2**40).map(lambda s: s * 1_000_000_000) | st.integers(0, 2**62)
    return st.integers(0, _RANGES[code] - 1)


def records(version: int) -> st.SearchStrategy[TaskStats]:
    """Records of one version with arbitrary values in every field."""
    fields = {
        name: _field_strategy(code)
        for name, code, _ in abi.LAYOUTS[version].fields
        if name != "version"
    }
    return st.fixed_dictionaries(fields).map(lambda kw: TaskStats.from_fields(version, **kw))


@pytest.mark.parametrize("version", range(1, 18))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_round_trip_every_version(version: int, data: st.DataObject) -> None:
    record = data.draw(records(version))
    raw = encode.encode_taskstats(record)
    assert len(raw) == abi.LAYOUTS[version].size
    back = decode.decode_taskstats(raw)
    assert back == record
    assert back.as_dict() == record.as_dict()
    assert encode.encode_taskstats(back) == raw


@pytest.mark.parametrize("version", range(1, 18))
def test_fields_a_version_lacks_are_none(version: int) -> None:
    record = decode.decode_taskstats(encode.encode_taskstats(TaskStats.from_fields(version)))
    present = set(abi.LAYOUTS[version].names)
    for name in abi.RECORD_FIELDS:
        value = getattr(record, name)
        assert (value is None) == (name not in present), name
    assert record.version == version
    assert not record.unknown_version


@pytest.mark.parametrize("version", range(1, 18))
def test_positions_and_offsets_say_where_each_field_sits(version: int) -> None:
    values = {  # each field its own value, in range of its type
        name: i + 1 if code in "Bb" else 1000 + i
        for i, (name, code, _) in enumerate(abi.LAYOUTS[version].fields)
    }
    values.pop("version")
    record = TaskStats.from_fields(version, **{
        k: v for k, v in values.items() if k != "ac_comm" and not k.endswith("_max_ts")
    })  # fmt: skip
    positions, offsets = type(record).positions, type(record).offsets
    assert set(positions) == set(offsets) == set(abi.LAYOUTS[version].names)
    raw = record.values()
    codes = {name: code for name, code, _ in abi.LAYOUTS[version].fields}
    assert record.from_values(raw) == record
    for name, at in positions.items():
        if name not in ("ac_comm", "version") and not name.endswith("_max_ts"):
            (at_offset,) = struct.unpack_from("=" + codes[name], record, offsets[name])
            assert raw[at] == at_offset == getattr(record, name) == values[name], name


def test_ac_nice_is_signed() -> None:
    record = TaskStats.from_fields(16, ac_nice=-20)
    assert decode.decode_taskstats(encode.encode_taskstats(record)).ac_nice == -20
    raw = bytearray(encode.encode_taskstats(record))
    assert raw[9] == 0xEC  # the kernel's u8


def test_v15_and_v16_of_equal_length_decode_by_version() -> None:
    values = {
        "cpu_delay_max": 111,
        "cpu_delay_min": 7,
        "blkio_count": 5,
        "read_bytes": 4096,
        "irq_delay_max": 999,
        "ac_comm": "same",
    }
    v15 = encode.encode_taskstats(TaskStats.from_fields(15, **values))
    v16 = encode.encode_taskstats(TaskStats.from_fields(16, **values))
    assert len(v15) == len(v16) == 560 and v15 != v16
    for raw in (v15, v16):
        record = decode.decode_taskstats(raw)
        for name, value in values.items():
            assert getattr(record, name) == value, (record.version, name)
    # The same bytes read as the other version give other values: the version decides.
    relabelled = struct.pack("=H", 15) + v16[2:]
    assert decode.decode_taskstats(relabelled).cpu_delay_max != 111


def test_v17_max_timestamps_are_wall_ns() -> None:
    stamp = 1_795_678_326 * 1_000_000_000 + 123_456_789
    record = TaskStats.from_fields(17, blkio_delay_max_ts=stamp)
    raw = encode.encode_taskstats(record)
    assert struct.unpack_from("=qq", raw, 576) == (1_795_678_326, 123_456_789)
    assert decode.decode_taskstats(raw).blkio_delay_max_ts == stamp


def test_newer_version_decodes_its_known_prefix_and_says_so() -> None:
    raw = bytearray(encode.encode_taskstats(TaskStats.from_fields(17, read_bytes=42)))
    raw[0:2] = struct.pack("=H", 18)
    raw += b"\xff" * 64  # fields a v18 might append
    record = decode.decode_taskstats(bytes(raw))
    assert record.version == 18
    assert record.unknown_version
    assert record.read_bytes == 42


@pytest.mark.parametrize("version", [1, 4, 14, 15, 16, 17])
def test_short_payload_is_a_decode_error(version: int) -> None:
    raw = encode.encode_taskstats(TaskStats.from_fields(version))
    for cut in (0, 1, 2, len(raw) // 2, len(raw) - 1):
        with pytest.raises(DecodeError):
            decode.decode_taskstats(raw[:cut])


def test_longer_payload_is_accepted() -> None:
    raw = encode.encode_taskstats(TaskStats.from_fields(16, nvcsw=3)) + b"\0" * 4
    assert decode.decode_taskstats(raw).nvcsw == 3


def test_unknown_old_version_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        decode.decode_taskstats(b"\0\0" + b"\0" * 100)  # version 0 of no known size


def test_version_zero_tgid_record_of_old_kernels_decodes_by_size() -> None:
    raw = b"\0\0" + encode.encode_taskstats(TaskStats.from_fields(13, nvcsw=9))[2:]
    record = decode.decode_taskstats(raw)
    assert record.version == 0 and record.nvcsw == 9


def test_comm_is_cleaned_of_control_characters() -> None:
    assert clean_comm(b"ab\x1b[2Jc\x07\x00junk") == "ab[2Jc"
    assert clean_comm(b"\xff\xfeok\x00") == "\ufffd\ufffdok"
    assert clean_comm(b"tab\there\xc2\x9b") == "tabhere"  # U+009B CSI
    record = TaskStats.from_fields(16, ac_comm="x\x1b]0;pwned\x07y")
    assert decode.decode_taskstats(encode.encode_taskstats(record)).ac_comm == "x]0;pwnedy"


# --- golden bytes from this kernel (Linux 6.18, struct v16) --------------------------------


def _field_at(raw: bytes, offset: int, size: int) -> object:
    if size == 32:
        return raw[offset : offset + 32].split(b"\0")[0].decode()
    code = {1: "B", 2: "H", 4: "I", 8: "Q"}[size]
    return struct.unpack_from("=" + code, raw, offset)[0]


def test_kernel_pid_reply_decodes_every_field_at_its_reference_offset(offsets) -> None:
    datagram = read_hex("kernel_v16_pid1.hex")
    assert len(datagram) == 596
    [reply] = decode.decode_datagram(datagram, FAMILY)
    assert isinstance(reply, decode.TaskstatsMessage)
    assert reply.pid == 1 and reply.tgid is None
    record = reply.pid_stats
    assert record is not None and record.version == 16
    payload = datagram[36:]
    for name, (offset, size) in offsets[16].items():
        if name in ("__sizeof__", "ac_pad"):
            continue
        expected = _field_at(payload, offset, size)
        if name == "ac_nice":
            expected = struct.unpack_from("=b", payload, offset)[0]
        assert getattr(record, name) == expected, name
    assert record.ac_pid == 1 and record.ac_comm == "process_api"
    assert decode.decode_reply_fast(datagram, len(datagram), FAMILY) == record


def test_kernel_tgid_reply_has_no_comm_or_ids() -> None:
    datagram = read_hex("kernel_v16_tgid1.hex")
    [reply] = decode.decode_datagram(datagram, FAMILY)
    assert reply.tgid == 1 and reply.pid is None
    assert reply.tgid_stats.ac_comm == "" and reply.tgid_stats.ac_pid == 0
    assert reply.tgid_stats.cpu_count > 0


def test_kernel_esrch_becomes_task_gone() -> None:
    [reply] = decode.decode_datagram(read_hex("kernel_esrch.hex"), FAMILY)
    assert isinstance(reply, decode.ErrorReply) and reply.errno == errno.ESRCH
    error = reply.exception(task_id=0)
    assert isinstance(error, TaskGoneError) and error.errno == errno.ESRCH


def test_reencoding_the_kernel_reply_gives_the_kernel_bytes() -> None:
    datagram = read_hex("kernel_v16_pid1.hex")
    [reply] = decode.decode_datagram(datagram, FAMILY)
    again = encode.encode_taskstats_message(
        FAMILY, pid=reply.pid, pid_stats=reply.pid_stats, seq=reply.seq, portid=reply.portid
    )
    # Padding holes in the struct are zero in both; only the nlmsghdr flags may differ.
    assert again[4:6] == datagram[4:6] and again[16:] == datagram[16:]


# --- message framing ------------------------------------------------------------------------


def _exit_message(version: int, pad: str = "none") -> bytes:
    thread = TaskStats.from_fields(version, ac_pid=12, ac_tgid=10, ac_flag=0x30, ac_exitcode=768)
    group = TaskStats.from_fields(version, nvcsw=99)
    return encode.encode_taskstats_message(
        FAMILY, pid=12, pid_stats=thread, tgid=10, tgid_stats=group, null_pad=pad
    )


@pytest.mark.parametrize(("version", "size"), [(16, 1172), (17, 1428)])
def test_exit_message_with_both_nests(version: int, size: int) -> None:
    datagram = _exit_message(version)
    assert len(datagram) == size
    [msg] = decode.decode_datagram(datagram, FAMILY)
    assert (msg.pid, msg.tgid) == (12, 10)
    assert msg.pid_stats.ac_exitcode == 768 and msg.pid_stats.is_group_exit
    assert msg.tgid_stats.nvcsw == 99


@pytest.mark.parametrize("pad", ["inside", "outside"])
def test_null_padding_attribute_is_skipped(pad: str) -> None:
    [msg] = decode.decode_datagram(_exit_message(16, pad), FAMILY)
    assert (msg.pid, msg.tgid) == (12, 10) and msg.tgid_stats.nvcsw == 99
    datagram = _exit_message(16, pad)
    assert decode.decode_reply_fast(datagram, len(datagram), FAMILY) is None  # slow path


def test_several_messages_in_one_datagram() -> None:
    reply = encode.encode_taskstats_message(
        FAMILY, pid=5, pid_stats=TaskStats.from_fields(16, ac_pid=5), seq=3
    )
    request = encode.encode_request(FAMILY, abi.TASKSTATS_CMD_GET, abi.TASKSTATS_CMD_ATTR_PID, 5)
    ack = encode.encode_error(0, request, seq=3)
    eperm = encode.encode_error(errno.EPERM, request, seq=4)
    replies = decode.decode_datagram(reply + ack + eperm, FAMILY)
    assert [type(r).__name__ for r in replies] == ["TaskstatsMessage", "ErrorReply", "ErrorReply"]
    assert replies[1].errno == 0
    error = replies[2].exception()
    assert isinstance(error, PermissionDeniedError) and "CAP_NET_ADMIN" in str(error)


def _slots(datagrams: list[bytes], stride: int = 2048) -> tuple[bytearray, list[tuple[int, bool]]]:
    buf = bytearray(stride * len(datagrams))
    for i, datagram in enumerate(datagrams):
        buf[i * stride : i * stride + len(datagram)] = datagram
    return buf, [(len(d), False) for d in datagrams]


def test_reply_slots_decode_like_one_datagram_each() -> None:
    kernel = read_hex("kernel_v16_pid1.hex")
    ours = encode.encode_taskstats_message(
        FAMILY, pid=7, pid_stats=TaskStats.from_fields(17, ac_pid=7, read_bytes=9), seq=12
    )
    esrch = read_hex("kernel_esrch.hex")
    padded = _exit_message(16, "inside")
    buf, slots = _slots([kernel, esrch, ours, padded])
    slots.append((0, True))  # a datagram cut short: only its slot index comes back
    replies, others = decode.decode_reply_slots(buf, slots, 2048, FAMILY)
    assert others == [1, 3, 4]
    [want] = decode.decode_datagram(kernel, FAMILY)
    (seq, portid, tid, record), (seq2, _, tid2, record2) = replies
    assert (seq, portid, tid) == (want.seq, want.portid, 1) and record == want.pid_stats
    assert (seq2, tid2, record2.version, record2.read_bytes) == (12, 7, 17, 9)


def _batch(count: int = 6, version: int = 16, stride: int = 2048) -> list[bytes]:
    """Query replies of the usual shape, as the kernel answers a batch (seq and task differ)."""
    return [
        encode.encode_taskstats_message(
            FAMILY,
            pid=100 + i,
            pid_stats=TaskStats.from_fields(version, ac_pid=100 + i, cpu_count=i * 4096),
            seq=40 + i,
            portid=777,
        )
        for i in range(count)
    ]


def _slot_by_slot(buf: bytearray, slots: list[tuple[int, bool]], stride: int = 2048) -> object:
    replies, others = decode.decode_reply_slots(buf, slots, stride, FAMILY)
    assert others == []
    seqs, ports, tids, records = (list(x) for x in zip(*replies, strict=True))
    assert ports.count(ports[0]) == len(ports)
    return seqs, ports[0], tids, records


@pytest.mark.parametrize("version", [1, 8, 15, 16, 17])
def test_a_batch_of_replies_alike_decodes_as_slot_by_slot(version: int) -> None:
    buf, slots = _slots(_batch(version=version))
    batch = decode.decode_reply_batch(buf, slots, 2048, FAMILY)
    assert batch is not None
    assert batch == _slot_by_slot(buf, slots)
    seqs, port, tids, records = batch
    assert (seqs, port, tids) == (list(range(40, 46)), 777, list(range(100, 106)))
    assert [(type(r), r.cpu_count) for r in records] == [
        (layout_class(version, False), i * 4096) for i in range(6)
    ]


def _tgid_reply() -> bytes:
    stats = TaskStats.from_fields(16, ac_pid=104)
    return encode.encode_taskstats_message(FAMILY, tgid=104, tgid_stats=stats, seq=44, portid=777)


@pytest.mark.parametrize(
    "odd",
    [
        "tgid",  # another attribute type
        "v17",  # another struct version (and length)
        "port",  # another port id
        "cut",  # cut short
        "esrch",  # an error
        "lone",  # a single reply: nothing to gain
    ],
)
def test_a_batch_with_one_reply_unlike_the_first_is_left_to_slot_by_slot(odd: str) -> None:
    replies = _batch()
    if odd == "tgid":
        replies[4] = _tgid_reply()
    elif odd == "v17":
        replies[4] = _batch(version=17)[4]
    elif odd == "port":
        data = bytearray(replies[4])
        struct.pack_into("=I", data, 12, 778)
        replies[4] = bytes(data)
    elif odd == "esrch":
        replies[4] = read_hex("kernel_esrch.hex")
    elif odd == "lone":
        replies = replies[:1]
    buf, slots = _slots(replies)
    if odd == "cut":
        slots[3] = (slots[3][0], True)
    assert decode.decode_reply_batch(buf, slots, 2048, FAMILY) is None


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6 * 2048 - 1), st.integers(0, 255)), max_size=6))
def test_a_mutated_batch_decodes_as_slot_by_slot_or_not_at_all(
    edits: list[tuple[int, int]],
) -> None:
    # Whatever a batch of replies holds, its batch decoding never disagrees with reading it
    # slot by slot: it agrees, gives up (None) or raises DecodeError as that would.
    buf, slots = _slots(_batch())
    for position, value in edits:
        buf[position] = value
    try:
        batch = decode.decode_reply_batch(buf, slots, 2048, FAMILY)
    except DecodeError:
        with pytest.raises(DecodeError):
            decode.decode_reply_slots(buf, slots, 2048, FAMILY)
        return
    if batch is not None:
        assert batch == _slot_by_slot(buf, slots)


def test_reply_slots_refuse_a_short_record() -> None:
    datagram = bytearray(read_hex("kernel_v16_pid1.hex"))
    cut = 100  # the STATS attribute and the messages say 100 bytes fewer: a short v16 record
    for at, fmt in ((0, "=I"), (20, "=H"), (32, "=H")):
        (value,) = struct.unpack_from(fmt, datagram, at)
        struct.pack_into(fmt, datagram, at, value - cut)
    datagram = datagram[:-cut]
    buf, slots = _slots([bytes(datagram)])
    with pytest.raises(DecodeError, match="shorter than"):
        decode.decode_reply_slots(buf, slots, 2048, FAMILY)


def test_cgroupstats_reply() -> None:
    from tsmon_core.model import CgroupStats

    stats = CgroupStats(33, 4, 0, 1, 0)
    [reply] = decode.decode_datagram(encode.encode_cgroupstats_reply(FAMILY, stats), FAMILY)
    assert reply.stats == stats


def test_message_of_another_family_is_refused() -> None:
    reply = encode.encode_taskstats_message(99, pid=5, pid_stats=TaskStats.from_fields(16))
    with pytest.raises(DecodeError):
        decode.decode_datagram(reply, FAMILY)


def test_nest_that_overruns_its_parent() -> None:
    good = bytearray(_exit_message(16))
    # The AGGR_PID nest header sits right after nlmsghdr + genlmsghdr.
    struct.pack_into("=H", good, 20, 2000)
    with pytest.raises(DecodeError):
        decode.decode_datagram(bytes(good), FAMILY)


def test_attribute_shorter_than_its_header() -> None:
    good = bytearray(_exit_message(16))
    struct.pack_into("=H", good, 24, 2)  # the PID attribute inside the first nest
    with pytest.raises(DecodeError):
        decode.decode_datagram(bytes(good), FAMILY)


def test_message_length_past_the_datagram() -> None:
    good = bytearray(_exit_message(16))
    struct.pack_into("=I", good, 0, len(good) + 8)
    with pytest.raises(DecodeError):
        decode.decode_datagram(bytes(good), FAMILY)


# --- fuzzing: malformed input raises DecodeError and nothing else ---------------------------

_VALID = [
    _exit_message(16),
    _exit_message(17, "inside"),
    _exit_message(15, "outside"),
    read_hex("kernel_v16_pid1.hex"),
    read_hex("kernel_esrch.hex"),
]


def _decode_everything(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode.decode_datagram(data, FAMILY)
    with contextlib.suppress(DecodeError):
        decode.decode_taskstats(data)
    with contextlib.suppress(DecodeError):
        decode.decode_reply_fast(data, len(data), FAMILY)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=1500))
def test_random_bytes_only_raise_decode_error(data: bytes) -> None:
    _decode_everything(data)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(_VALID), st.integers(0, 1500))
def test_truncated_messages_only_raise_decode_error(datagram: bytes, cut: int) -> None:
    _decode_everything(datagram[:cut])


@settings(max_examples=600, deadline=None)
@given(
    st.sampled_from(_VALID),
    st.lists(st.tuples(st.integers(0, 1500), st.integers(0, 255)), min_size=1, max_size=8),
)
def test_mutated_messages_only_raise_decode_error(
    datagram: bytes, edits: list[tuple[int, int]]
) -> None:
    data = bytearray(datagram)
    for position, value in edits:
        data[position % len(data)] = value
    _decode_everything(bytes(data))


def _extreme(code: str, field: int, record: int) -> int:
    """A value near the edge of a field's type, different per field and record."""
    if code == "b":
        return -128 + record
    if code == "B":
        return 255 - record
    return {"H": 2**16, "I": 2**32, "Q": 2**64}[code] - 1 - record * (field + 1)


@pytest.mark.parametrize("version", range(1, 18))
def test_a_column_reads_each_numeric_field_of_every_record(version: int) -> None:
    fields = [(n, c) for n, c, _ in abi.LAYOUTS[version].fields if c not in ("T", "32s")]
    records = [
        TaskStats.from_fields(
            version,
            **{n: _extreme(c, k, i) for k, (n, c) in enumerate(fields) if n != "version"},
        )
        for i in range(4)
    ]
    joined = bytearray().join(records)
    klass = type(records[0])
    for name, _ in fields:
        assert read_column(klass, joined, name) == [getattr(r, name) for r in records], name
    with pytest.raises(ValueError):
        read_column(klass, joined, "ac_comm" if "ac_comm" in klass.offsets else "no_such")


@pytest.mark.parametrize("version", [1, 8, 15, 16, 17])
def test_columns_compare_equal_only_where_every_record_agrees(version: int) -> None:
    fields = [n for n, c, _ in abi.LAYOUTS[version].fields if c not in ("T", "32s")]
    records = [TaskStats.from_fields(version, ac_pid=i) for i in range(1, 6)]
    joined = bytearray().join(records)
    klass = type(records[0])
    for name in fields[1:]:  # version aside: changing it would change the layout
        changed = list(records)
        changed[3] = records[3].replace(**{name: getattr(records[3], name) + 1})
        other = bytearray().join(changed)
        assert same_column(klass, joined, joined, name)
        assert not same_column(klass, joined, other, name), name
        assert all(same_column(klass, joined, other, n) for n in fields if n != name), name
