"""Reading the pictures the demos write, with the standard library only: PNG and SVG sizes."""
import struct
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path):
    """(width, height) of a PNG file, after checking it is one: the signature, every chunk's CRC,
    an IHDR first, at least one IDAT that inflates, and an IEND last."""
    data = Path(path).read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    pos, chunks, idat = 8, [], b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, f"{path}: bad CRC in chunk {kind!r}"
        chunks.append((kind, body))
        if kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND", f"{path}: chunks out of order"
    width, height, depth, color = struct.unpack(">IIBB", chunks[0][1][:10])
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color]
    raw = zlib.decompress(idat)
    assert len(raw) == height * (1 + (width * channels * depth + 7) // 8), f"{path}: pixel data of the wrong size"
    return width, height


def svg_size(path):
    """(width, height) of an SVG file in its own units (Graphviz: points), after parsing it as XML
    with an <svg> root whose viewBox agrees with its width and height."""
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg"), f"{path}: root element is {root.tag}, not svg"
    w = float(root.get("width").removesuffix("pt").removesuffix("px"))
    h = float(root.get("height").removesuffix("pt").removesuffix("px"))
    vb = [float(x) for x in root.get("viewBox").split()]
    assert abs(vb[2] - w) <= 1 and abs(vb[3] - h) <= 1, f"{path}: viewBox {vb} vs {w} x {h}"
    assert len(list(root.iter())) > 10, f"{path}: an empty picture"
    return w, h
