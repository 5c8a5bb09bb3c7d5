#!/usr/bin/env python3
"""Draws the app icon (a rounded speech-bubble "text box" with two carets) as RGBA PNGs.
Pure standard library, so it runs anywhere; the PNGs are committed, rerun only to change them."""
import math, struct, zlib, os

def png(path, size, pixels):
    raw = b''.join(b'\x00' + bytes(pixels[y * size * 4:(y + 1) * size * 4]) for y in range(size))
    def chunk(kind, data):
        c = struct.pack('>I', len(data)) + kind + data
        return c + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff)
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n')
        f.write(chunk(b'IHDR', struct.pack('>IIBBBBB', size, size, 8, 6, 0, 0, 0)))
        f.write(chunk(b'IDAT', zlib.compress(raw, 9)))
        f.write(chunk(b'IEND', b''))

def inside_rounded(x, y, x0, y0, x1, y1, r):
    cx = min(max(x, x0 + r), x1 - r)
    cy = min(max(y, y0 + r), y1 - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r and x0 <= x <= x1 and y0 <= y <= y1

def draw(size):
    s = size / 256.0
    px = [0] * (size * size * 4)
    ss = 3  # supersampling per axis
    for y in range(size):
        for x in range(size):
            acc = [0.0, 0.0, 0.0, 0.0]
            for sy in range(ss):
                for sx in range(ss):
                    u = (x + (sx + 0.5) / ss) / s
                    v = (y + (sy + 0.5) / ss) / s
                    col = None
                    if inside_rounded(u, v, 16, 16, 240, 240, 48):
                        t = (u + v) / 480.0
                        col = (int(14 + 40 * t), int(116 - 30 * t), int(144 + 60 * t))
                        # the text box
                        if inside_rounded(u, v, 48, 64, 208, 192, 18):
                            col = (250, 250, 247)
                            # lines of text
                            for i, (ly, lx1) in enumerate(((92, 180), (122, 150), (152, 172))):
                                if ly - 6 <= v <= ly + 6 and 68 <= u <= lx1:
                                    col = (148, 163, 184)
                            # two carets: ours (teal) and a colleague's (orange)
                            if 150 <= u <= 158 and 108 <= v <= 136:
                                col = (14, 116, 144)
                            if 172 <= u <= 180 and 138 <= v <= 166:
                                col = (234, 88, 12)
                    if col:
                        acc[0] += col[0]; acc[1] += col[1]; acc[2] += col[2]; acc[3] += 255
            n = ss * ss
            a = acc[3] / n
            i = (y * size + x) * 4
            if a > 0:
                k = acc[3] / 255.0
                px[i:i + 4] = [int(acc[0] / k), int(acc[1] / k), int(acc[2] / k), int(a)]
    return px

here = os.path.dirname(os.path.abspath(__file__))
for name, size in (('32x32.png', 32), ('128x128.png', 128), ('128x128@2x.png', 256), ('icon.png', 256)):
    png(os.path.join(here, name), size, draw(size))
    print('wrote', name)
