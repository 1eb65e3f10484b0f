"""Prometheus remote_write requests built by hand for the tests: protobuf wire format
(WriteRequest, TimeSeries, Label, Sample, MetricMetadata) and snappy block format written as literals
only (valid snappy, no compression), so the tests need nothing beyond the standard
library and can also build malformed bodies on purpose."""
import struct


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, wire, payload):
    """One field: tag then value (payload already encoded for wire types 0, 1, 5)."""
    if wire == 2:
        return varint(num << 3 | 2) + varint(len(payload)) + payload
    return varint(num << 3 | wire) + payload


def label(name, value):
    n = name.encode() if isinstance(name, str) else name
    v = value.encode() if isinstance(value, str) else value
    return field(1, 2, n) + field(2, 2, v)


def sample(t_ms, value):
    return field(1, 1, struct.pack("<d", value)) + field(2, 0, varint(t_ms))


def timeseries(labels, samples):
    """labels: [(name, value)] in the order to send (sorted by name is valid);
    samples: [(t_ms, value)]."""
    out = b"".join(field(1, 2, label(n, v)) for n, v in labels)
    return out + b"".join(field(2, 2, sample(t, v)) for t, v in samples)


def write_request(series):
    """series: [(labels, samples)] -> WriteRequest bytes."""
    return b"".join(field(1, 2, timeseries(l, s)) for l, s in series)


# remote.proto's MetricMetadata.MetricType, by the names /api/v1/metadata gives them.
METRIC_TYPES = {"unknown": 0, "counter": 1, "gauge": 2, "histogram": 3, "gaugehistogram": 4,
                "summary": 5, "info": 6, "stateset": 7}


def metadata(mtype, name, help="", unit=""):
    """One WriteRequest metadata field (field 3): a MetricMetadata of type `mtype` (a
    name of METRIC_TYPES, or a number), family `name`, `help` and `unit` (str or bytes).
    Appended to write_request()'s bytes, the request carries both."""
    enc = [x.encode() if isinstance(x, str) else x for x in (name, help, unit)]
    t = METRIC_TYPES[mtype] if isinstance(mtype, str) else mtype
    return field(3, 2, field(1, 0, varint(t)) + field(2, 2, enc[0]) + field(4, 2, enc[1]) +
                 field(5, 2, enc[2]))


def snappy(data):
    """Snappy block format: the uncompressed length, then literal chunks."""
    out = bytearray(varint(len(data)))
    pos = 0
    while pos < len(data):
        chunk = data[pos:pos + 65536]
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        elif n < 256:
            out += bytes([60 << 2, n])
        else:
            out += bytes([61 << 2]) + struct.pack("<H", n)
        out += chunk
        pos += len(chunk)
    return bytes(out)


HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}


def series_of(name, t_ms, value, **labels):
    """One sorted label set with one sample."""
    pairs = sorted([("__name__", name)] + list(labels.items()))
    return (pairs, [(t_ms, value)])
