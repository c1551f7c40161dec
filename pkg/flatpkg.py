#!/usr/bin/env python3
"""Write and read macOS flat installer packages (.pkg) on any OS, standard library only.

A product archive, the shape `productbuild` writes, is a xar archive holding

    Distribution            installer-gui-script XML (what Installer shows and checks)
    <name>.pkg/             one component package:
        Bom                 Apple "BOMStore" bill of materials: every payload path with
                            mode, uid, gid, size and checksum (what `lsbom` prints,
                            what `pkgutil --files` and the receipt come from)
        Payload             gzip'd cpio, "odc" format (magic 070707), paths "./usr/..."
        Scripts             gzip'd odc cpio holding ./postinstall
        PackageInfo         pkg-info XML

Subcommands:

    flatpkg.py build --manifest pkg/payload.manifest ...   write the .pkg
    flatpkg.py inspect FILE.pkg                             verify every checksum, print the TOC
    flatpkg.py extract FILE.pkg DIR                         write the xar members to DIR
    flatpkg.py lsbom BOM                                    list a Bom like `lsbom -p fMugsc`

The BOM writer follows the layout of Apple's mkbom as documented by bomutils and
pinned against Apple's own tools by the embala-pkg crate (lsbom, pkgutil --expand-full
and installer on macOS); see pkg/README.md.
"""

import argparse
import gzip
import hashlib
import os
import re
import stat
import struct
import sys
import time
import zlib
from xml.sax.saxutils import escape

# ---------------------------------------------------------------------------
# The payload tree


class Node:
    """One payload entry: path relative to the install location, no leading "./"."""

    def __init__(self, path, kind, mode, data=b""):
        assert kind in ("dir", "file")
        assert 0 <= mode <= 0o7777
        self.path = path
        self.kind = kind
        self.mode = mode
        self.data = data

    @property
    def full_mode(self):
        return (stat.S_IFDIR if self.kind == "dir" else stat.S_IFREG) | self.mode


def ancestors(path):
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def make_tree(files, dirs=(), dir_mode=0o755):
    """files: [(path, mode, bytes)], dirs: [(path, mode)] -> {path: Node}, sorted.

    Every ancestor directory of a file is an entry of its own (mode dir_mode unless
    listed in dirs), as pkgbuild records them.
    """
    nodes = {}
    for path, mode in dirs:
        check_rel(path)
        nodes[path] = Node(path, "dir", mode)
    for path, mode, data in files:
        check_rel(path)
        if path in nodes:
            raise SystemExit(f"flatpkg: {path} listed twice")
        nodes[path] = Node(path, "file", mode, data)
    for path in list(nodes):
        for anc in ancestors(path):
            node = nodes.setdefault(anc, Node(anc, "dir", dir_mode))
            if node.kind != "dir":
                raise SystemExit(f"flatpkg: {anc} is both a file and a directory")
    return dict(sorted(nodes.items(), key=lambda kv: kv[0].encode()))


def check_rel(path):
    if not path or path.startswith("/") or path.startswith("./") or "\\" in path:
        raise SystemExit(f"flatpkg: bad payload path {path!r}")
    if any(part in ("", ".", "..") for part in path.split("/")):
        raise SystemExit(f"flatpkg: bad payload path {path!r}")


# ---------------------------------------------------------------------------
# cpio, odc ("portable ASCII", magic 070707), as pkgbuild writes it:
# "." then "./path" in sorted order, uid 0 gid 0, sequential inode numbers,
# directory nlink = 2 + direct children, TRAILER!!! with mtime 0, zero padding
# to a 512-byte boundary.


def odc_record(out, name, mode, nlink, ino, mtime, data=b""):
    name_b = name.encode() + b"\0"
    header = "070707%06o%06o%06o%06o%06o%06o%06o%011o%06o%011o" % (
        0, ino, mode, 0, 0, nlink, 0, mtime, len(name_b), len(data))
    out += header.encode("ascii")
    out += name_b
    out += data


def cpio_odc(nodes, mtime):
    children = {}
    for path in nodes:
        parent = path.rpartition("/")[0]
        children[parent] = children.get(parent, 0) + 1
    out = bytearray()
    ino = 0
    odc_record(out, ".", stat.S_IFDIR | 0o755, 2 + children.get("", 0), ino, mtime)
    for path, node in nodes.items():
        ino += 1
        if node.kind == "dir":
            odc_record(out, "./" + path, node.full_mode, 2 + children.get(path, 0), ino, mtime)
        else:
            odc_record(out, "./" + path, node.full_mode, 1, ino, mtime, node.data)
    odc_record(out, "TRAILER!!!", 0, 1, ino + 1, 0)
    out += b"\0" * (-len(out) % 512)
    return bytes(out)


def gzip_bytes(data):
    # mtime 0 and no file name: byte-stable output.
    return gzip.compress(data, compresslevel=9, mtime=0)


# ---------------------------------------------------------------------------
# BOM ("BOMStore"), big-endian throughout.
#
#   header (32 bytes): "BOMStore", version 1, number of blocks (without the null
#       block 0), blocks index offset and length, vars index offset and length
#   vars index at 128: count, then (block index u32, name length u8, name) for
#       BomInfo, Paths, HLIndex, VIndex, Size64
#   block data from 512
#   blocks index: count (with the null block), (offset u32, length u32) each,
#       then an empty free list (count 0 and two zero pointers)
#
# Per path three blocks: the path record (type, 1, architecture, mode, uid, gid,
# mtime, size, 1, checksum, link name length; 4 more zero bytes for files), the
# file block (parent path id, leaf name + NUL) and the path info (path id, record
# block). The Paths tree (a "tree" block then one leaf "Paths" block of
# (path info block, file block) pairs) lists the paths breadth-first, children
# sorted by name: the B-tree is keyed by (parent id, name), and lsbom stops at the
# first key out of order. The root "." has path id 1 and parent 0.

BOM_TYPE_FILE = 1
BOM_TYPE_DIR = 2
BOM_ARCH = 15   # the value Apple's pkgbuild records
BOM_BLOCK_SIZE = 4096


def _cksum_table():
    table = []
    for i in range(256):
        crc = i << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else (crc << 1)
            crc &= 0xFFFFFFFF
        table.append(crc)
    return table


_CKSUM = _cksum_table()


_REV8 = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def posix_cksum(data):
    """The checksum mkbom stores and lsbom prints: POSIX cksum(1), as GNU `cksum` prints.

    CRC-32 with polynomial 0x04C11DB7, not reflected, initial value 0, over the data and then
    its length (least significant byte first, as few bytes as needed), complemented. Computed
    with zlib's reflected CRC-32 on bit-reversed bytes (the same CRC mirrored), as fast as
    zlib; _posix_cksum_slow is the plain table version it is tested against.
    """
    n, tail = len(data), bytearray()
    while n:
        tail.append(n & 0xFF)
        n >>= 8
    msg = bytes(data).translate(_REV8) + bytes(tail).translate(_REV8)
    reg = ~zlib.crc32(msg, 0xFFFFFFFF) & 0xFFFFFFFF   # reflected register, initial value 0
    return ~int(f"{reg:032b}"[::-1], 2) & 0xFFFFFFFF


def _posix_cksum_slow(data):
    crc = 0
    for b in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CKSUM[(crc >> 24) ^ b]
    n = len(data)
    while n:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CKSUM[(crc >> 24) ^ (n & 0xFF)]
        n >>= 8
    return crc ^ 0xFFFFFFFF


def _path_record(kind, mode, mtime, size=0, cksum=0):
    rec = struct.pack(">BBHHIIIIBII", kind, 1, BOM_ARCH, mode, 0, 0, mtime, size, 1, cksum, 0)
    if kind == BOM_TYPE_FILE:
        rec += b"\0" * 4
    return rec


def _tree_block(paths_index, count=0):
    return struct.pack(">4sIIIIB", b"tree", 1, paths_index, BOM_BLOCK_SIZE, count, 0)


def _paths_block(is_leaf, entries, next_index=0, prev_index=0):
    out = struct.pack(">HHII", is_leaf, len(entries), next_index, prev_index)
    for a, b in entries:
        out += struct.pack(">II", a, b)
    return out


def build_bom(nodes, mtime):
    # Breadth-first over the tree, children sorted by name.
    kids = {"": []}
    for path in nodes:
        kids.setdefault(path, [])
        kids.setdefault(path.rpartition("/")[0], []).append(path)
    records = [(1, 0, ".", _path_record(BOM_TYPE_DIR, stat.S_IFDIR | 0o755, mtime))]
    queue = [("", 1)]
    next_id = 2
    while queue:
        parent, parent_id = queue.pop(0)
        for path in sorted(kids[parent], key=lambda p: p.rpartition("/")[2].encode()):
            node = nodes[path]
            if node.kind == "dir":
                rec = _path_record(BOM_TYPE_DIR, node.full_mode, mtime)
            else:
                rec = _path_record(BOM_TYPE_FILE, node.full_mode, mtime, len(node.data),
                                   posix_cksum(node.data))
            records.append((next_id, parent_id, path.rpartition("/")[2], rec))
            queue.append((path, next_id))
            next_id += 1

    blocks = [b""]  # block 0: the null block
    bominfo = struct.pack(">III", 1, len(records) + 1, 3)
    # Meaning unknown; the values Apple's tools write.
    for a, c in ((0, 8546296), (16777223, 37959280), (16777228, 25620800)):
        bominfo += struct.pack(">IIII", a, 0, c, 0)
    blocks.append(bominfo)
    variables = [(1, "BomInfo")]

    entries = []
    for path_id, parent_id, name, rec in records:
        rec_index = len(blocks)
        blocks.append(rec)
        file_index = len(blocks)
        blocks.append(struct.pack(">I", parent_id) + name.encode() + b"\0")
        info_index = len(blocks)
        blocks.append(struct.pack(">II", path_id, rec_index))
        entries.append((info_index, file_index))

    # One leaf holds (4096 - 12) / 8 entries; split into a pointer block + leaves past that.
    leaves, leaf = [], []
    for entry in entries:
        leaf.append(entry)
        if BOM_BLOCK_SIZE - 12 - 8 * len(leaf) < 16:
            leaves.append(leaf)
            leaf = []
    if leaf or not leaves:
        leaves.append(leaf)

    variables.append((len(blocks), "Paths"))
    blocks.append(_tree_block(len(blocks) + 1, len(entries)))
    if len(leaves) > 1:
        first = len(blocks) + 1
        blocks.append(_paths_block(0, [(first + i, lf[-1][1]) for i, lf in enumerate(leaves)]))
    for i, lf in enumerate(leaves):
        here = len(blocks)
        blocks.append(_paths_block(1, lf, here + 1 if i < len(leaves) - 1 else 0,
                                   here - 1 if i > 0 else 0))

    variables.append((len(blocks), "HLIndex"))
    blocks.append(_tree_block(len(blocks) + 1))
    blocks.append(_paths_block(1, []))
    variables.append((len(blocks), "VIndex"))
    blocks.append(struct.pack(">IIIB", 1, len(blocks) + 1, 0, 0))
    blocks.append(_tree_block(len(blocks) + 1))
    blocks.append(_paths_block(1, []))
    variables.append((len(blocks), "Size64"))
    blocks.append(_tree_block(len(blocks) + 1))
    blocks.append(_paths_block(1, []))

    data_offset, vars_offset = 512, 128
    data = bytearray()
    index = struct.pack(">I", len(blocks))
    for block in blocks:
        index += struct.pack(">II", data_offset + len(data), len(block))
        data += block
    index += b"\0" * 20  # the free list: count 0 and two zeroed (address, length) pairs
    vars_data = struct.pack(">I", len(variables))
    for block_index, name in variables:
        vars_data += struct.pack(">IB", block_index, len(name)) + name.encode()
    index_offset = data_offset + len(data) + (64 - len(data) % 64)

    out = bytearray(struct.pack(">8sIIIIII", b"BOMStore", 1, len(blocks) - 1,
                                index_offset, len(index), vars_offset, len(vars_data)))
    out += b"\0" * (vars_offset - len(out))
    out += vars_data
    out += b"\0" * (data_offset - len(out))
    out += data
    out += b"\0" * (index_offset - len(out))
    out += index
    return bytes(out)


def read_bom(bom):
    """-> [(path "./...", mode, uid, gid, size, checksum, mtime)] in B-tree order."""
    magic, version, _nblocks, idx_off, _idx_len, vars_off, _vars_len = struct.unpack_from(
        ">8sIIIIII", bom, 0)
    if magic != b"BOMStore" or version != 1:
        raise ValueError("not a BOMStore file")
    (count,) = struct.unpack_from(">I", bom, idx_off)
    blocks = [struct.unpack_from(">II", bom, idx_off + 4 + 8 * i) for i in range(count)]

    def block(i):
        off, length = blocks[i]
        return bom[off:off + length]

    (nvars,) = struct.unpack_from(">I", bom, vars_off)
    variables, pos = {}, vars_off + 4
    for _ in range(nvars):
        bi, nl = struct.unpack_from(">IB", bom, pos)
        variables[bom[pos + 5:pos + 5 + nl].decode()] = bi
        pos += 5 + nl
    for name in ("BomInfo", "Paths", "HLIndex", "VIndex", "Size64"):
        if name not in variables:
            raise ValueError(f"BOM variable {name} missing")
    tree = block(variables["Paths"])
    magic, _v, paths_index, _bs, path_count, _a = struct.unpack(">4sIIIIB", tree)
    if magic != b"tree":
        raise ValueError("Paths is not a tree block")

    def paths_block(i):
        b = block(i)
        is_leaf, n, fwd, back = struct.unpack_from(">HHII", b, 0)
        return is_leaf, [struct.unpack_from(">II", b, 12 + 8 * k) for k in range(n)], fwd

    is_leaf, entries, fwd = paths_block(paths_index)
    while not is_leaf:
        is_leaf, entries, fwd = paths_block(entries[0][0])
    names, out = {}, []
    while True:
        for info_index, file_index in entries:
            path_id, rec_index = struct.unpack(">II", block(info_index))
            fb = block(file_index)
            (parent,) = struct.unpack_from(">I", fb, 0)
            if not fb.endswith(b"\0"):
                raise ValueError("file name not NUL-terminated")
            name = fb[4:-1].decode()
            full = name if parent == 0 else names[parent] + "/" + name
            names[path_id] = full
            rec = block(rec_index)
            (kind, _one, _arch, mode, uid, gid, mtime, size, _one2, cksum,
             _lnl) = struct.unpack_from(">BBHHIIIIBII", rec, 0)
            want = 35 if kind == BOM_TYPE_FILE else 31
            if len(rec) != want:
                raise ValueError(f"{full}: path record of {len(rec)} bytes, expected {want}")
            out.append((full, mode, uid, gid, size, cksum, mtime))
        if not fwd:
            break
        _leaf, entries, fwd = paths_block(fwd)
    if len(out) != path_count:
        raise ValueError(f"Paths tree says {path_count} paths, found {len(out)}")
    return out


# ---------------------------------------------------------------------------
# xar: 28-byte header ("xar!", header size, version 1, compressed and plain TOC
# lengths, checksum algorithm 1 = SHA-1), the zlib-compressed TOC XML, then the
# heap: the TOC's SHA-1 at offset 0, then each file's data in TOC order. Files
# Apple stores compressed carry encoding "application/x-gzip" (which in xar means
# a zlib stream); the already-gzip'd Payload and Scripts are stored as they are
# ("application/octet-stream"), as pkgbuild does.


class XarFile:
    def __init__(self, name, data=None, mode=0o644, compress=True, children=None):
        self.name = name
        self.data = data
        self.mode = mode
        self.compress = compress
        self.children = children  # list for a directory


def _xar_time(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))


def build_xar(entries, mtime):
    heap = bytearray()
    next_id = [1]
    stamp = _xar_time(mtime) + "Z"

    def file_xml(entry, indent):
        fid = next_id[0]
        next_id[0] += 1
        sp = " " * indent
        lines = [f'{sp}<file id="{fid}">']
        if entry.children is None:
            data = entry.data
            stored = zlib.compress(data, 9) if entry.compress else data
            style = "application/x-gzip" if entry.compress else "application/octet-stream"
            lines += [
                f"{sp} <data>",
                f"{sp}  <length>{len(stored)}</length>",
                f"{sp}  <offset>{20 + len(heap)}</offset>",
                f"{sp}  <size>{len(data)}</size>",
                f'{sp}  <encoding style="{style}"/>',
                f'{sp}  <extracted-checksum style="sha1">{hashlib.sha1(data).hexdigest()}</extracted-checksum>',
                f'{sp}  <archived-checksum style="sha1">{hashlib.sha1(stored).hexdigest()}</archived-checksum>',
                f"{sp} </data>",
            ]
            heap.extend(stored)
        lines += [
            f"{sp} <ctime>{stamp}</ctime>",
            f"{sp} <mtime>{stamp}</mtime>",
            f"{sp} <atime>{stamp}</atime>",
            f"{sp} <group>wheel</group>",
            f"{sp} <gid>0</gid>",
            f"{sp} <user>root</user>",
            f"{sp} <uid>0</uid>",
            f"{sp} <mode>{entry.mode:04o}</mode>",
            f"{sp} <type>{'file' if entry.children is None else 'directory'}</type>",
            f"{sp} <name>{escape(entry.name)}</name>",
        ]
        for child in entry.children or []:
            lines += file_xml(child, indent + 1)
        lines.append(f"{sp}</file>")
        return lines

    body = []
    for entry in entries:
        body += file_xml(entry, 2)
    toc = "\n".join([
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<xar>",
        " <toc>",
        '  <checksum style="sha1">',
        "   <offset>0</offset>",
        "   <size>20</size>",
        "  </checksum>",
        f"  <creation-time>{_xar_time(mtime)}</creation-time>",
        *body,
        " </toc>",
        "</xar>",
        "",
    ]).encode()
    toc_z = zlib.compress(toc, 9)
    header = struct.pack(">4sHHQQI", b"xar!", 28, 1, len(toc_z), len(toc), 1)
    return header + toc_z + hashlib.sha1(toc_z).digest() + bytes(heap)


def read_xar(blob):
    """Verify a SHA-1 xar archive -> (toc_xml_bytes, {path: (mode, bytes or None)}).

    Checks the TOC checksum and every file's archived and extracted checksums.
    """
    import xml.etree.ElementTree as ET

    magic, hsize, version, zlen, plen, alg = struct.unpack_from(">4sHHQQI", blob, 0)
    if magic != b"xar!" or hsize != 28 or version != 1:
        raise ValueError("not a xar archive with the 28-byte header")
    if alg != 1:
        raise ValueError(f"xar checksum algorithm {alg}, expected 1 (sha1)")
    toc_z = blob[hsize:hsize + zlen]
    toc = zlib.decompress(toc_z)
    if len(toc) != plen:
        raise ValueError("TOC length mismatch")
    heap = blob[hsize + zlen:]
    root = ET.fromstring(toc).find("toc")
    ck = root.find("checksum")
    if ck.get("style") != "sha1":
        raise ValueError("TOC checksum style is not sha1")
    off, size = int(ck.findtext("offset")), int(ck.findtext("size"))
    if heap[off:off + size] != hashlib.sha1(toc_z).digest():
        raise ValueError("TOC checksum mismatch")
    files, ids = {}, set()

    def walk(elem, prefix):
        for f in elem.findall("file"):
            fid = f.get("id")
            if fid in ids:
                raise ValueError(f"duplicate file id {fid}")
            ids.add(fid)
            path = prefix + f.findtext("name")
            mode = int(f.findtext("mode"), 8)
            if f.findtext("type") == "directory":
                files[path] = (mode, None)
                walk(f, path + "/")
                continue
            d = f.find("data")
            length, offset = int(d.findtext("length")), int(d.findtext("offset"))
            stored = heap[offset:offset + length]
            if len(stored) != length:
                raise ValueError(f"{path}: data past the end of the heap")
            if hashlib.sha1(stored).hexdigest() != d.findtext("archived-checksum"):
                raise ValueError(f"{path}: archived checksum mismatch")
            style = d.find("encoding").get("style")
            if style == "application/x-gzip":
                data = zlib.decompress(stored)
            elif style == "application/octet-stream":
                data = stored
            else:
                raise ValueError(f"{path}: unknown encoding {style}")
            if len(data) != int(d.findtext("size")):
                raise ValueError(f"{path}: size mismatch")
            if hashlib.sha1(data).hexdigest() != d.findtext("extracted-checksum"):
                raise ValueError(f"{path}: extracted checksum mismatch")
            files[path] = (mode, data)

    walk(root, "")
    return toc, files


# ---------------------------------------------------------------------------
# The package


def read_manifest(path, variables):
    """Lines: `file MODE DEST SOURCE` or `dir MODE DEST`; # comments; ${VAR} in SOURCE."""
    files, dirs = [], []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fields = line.split()
            where = f"{path}:{lineno}"
            if fields[0] == "file" and len(fields) == 4:
                src = fields[3]
                for k, v in variables.items():
                    src = src.replace("${" + k + "}", v)
                if "${" in src:
                    raise SystemExit(f"{where}: unset variable in {fields[3]}")
                with open(src, "rb") as f:
                    files.append((fields[2], int(fields[1], 8), f.read()))
            elif fields[0] == "dir" and len(fields) == 3:
                dirs.append((fields[2], int(fields[1], 8)))
            else:
                raise SystemExit(f"{where}: expected `file MODE DEST SOURCE` or `dir MODE DEST`")
    return files, dirs


def install_kbytes(nodes):
    # pkgbuild's rule: each file takes ceil(size / 512) blocks of 512 bytes, each
    # directory but the root one block, total rounded up to KiB.
    blocks = sum(1 if n.kind == "dir" else -(-len(n.data) // 512) for n in nodes.values())
    return -(-blocks // 2)


def fill(template_path, values):
    with open(template_path, encoding="utf-8") as fh:
        text = fh.read()
    for k, v in values.items():
        text = text.replace("@" + k + "@", escape(str(v), {'"': "&quot;"}))
    leftover = re.search(r"@[A-Z_]+@", text)
    if leftover:
        raise SystemExit(f"{template_path}: unfilled placeholder {leftover.group(0)}")
    return text.encode("utf-8")


def cmd_build(args):
    variables = dict(v.split("=", 1) for v in args.var)
    files, dirs = read_manifest(args.manifest, variables)
    nodes = make_tree(files, dirs)
    mtime = args.mtime

    script_files = []
    for name in sorted(os.listdir(args.scripts)):
        p = os.path.join(args.scripts, name)
        with open(p, "rb") as f:
            data = f.read()
        # Hooks must be executable whatever the checkout did to the mode.
        mode = 0o755 if name in ("preinstall", "postinstall") or os.access(p, os.X_OK) else 0o644
        script_files.append((name, mode, data))
    scripts = make_tree(script_files)
    hooks = [n for n in ("preinstall", "postinstall") if n in scripts]

    values = {
        "IDENTIFIER": args.identifier,
        "VERSION": args.version,
        "TITLE": args.title,
        "COMPONENT": args.component,
        "NUMBER_OF_FILES": len(nodes) + 1,  # every BOM path, the root "." included
        "INSTALL_KBYTES": install_kbytes(nodes),
        "MIN_OS": args.min_os,
        "HOST_ARCHITECTURES": args.host_architectures,
    }
    package_info = fill(args.package_info, values)
    distribution = fill(args.distribution, values)
    for hook in hooks:
        if f'<{hook} file="./{hook}"' not in package_info.decode():
            raise SystemExit(f"{args.package_info}: Scripts has {hook} but PackageInfo does not name it")

    bom = build_bom(nodes, mtime)
    payload = gzip_bytes(cpio_odc(nodes, mtime))
    scripts_archive = gzip_bytes(cpio_odc(scripts, mtime))
    component = XarFile(args.component, mode=0o755, children=[
        XarFile("Bom", bom),
        XarFile("Payload", payload, compress=False),
        XarFile("Scripts", scripts_archive, compress=False),
        XarFile("PackageInfo", package_info),
    ])
    archive = build_xar([XarFile("Distribution", distribution), component], mtime)
    tmp = args.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(archive)
    os.replace(tmp, args.out)
    print(f"flatpkg: wrote {args.out} ({len(archive)} bytes; {len(nodes) + 1} payload paths, "
          f"installKBytes {values['INSTALL_KBYTES']})")


def cmd_inspect(args):
    with open(args.pkg, "rb") as f:
        blob = f.read()
    toc, files = read_xar(blob)
    if args.toc:
        sys.stdout.write(toc.decode())
        return
    for path, (mode, data) in files.items():
        kind = "dir " if data is None else "file"
        size = "" if data is None else f" {len(data)}"
        print(f"{kind} {mode:04o} {path}{size}")
    print(f"xar OK: TOC and {sum(d is not None for _, d in files.values())} file checksums (sha1) verified")


def cmd_extract(args):
    with open(args.pkg, "rb") as f:
        _toc, files = read_xar(f.read())
    for path, (_mode, data) in files.items():
        dest = os.path.join(args.dir, path)
        if data is None:
            os.makedirs(dest, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "wb") as f:
                f.write(data)


def cmd_lsbom(args):
    with open(args.bom, "rb") as f:
        entries = read_bom(f.read())
    for path, mode, uid, gid, size, cksum, _mtime in entries:
        if stat.S_ISDIR(mode):
            print(f"{path}\t{mode:o}\t{uid}/{gid}")
        else:
            print(f"{path}\t{mode:o}\t{uid}/{gid}\t{size}\t{cksum}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="write a product archive")
    b.add_argument("--out", required=True)
    b.add_argument("--manifest", required=True, help="payload manifest (file/dir lines)")
    b.add_argument("--var", action="append", default=[], help="NAME=VALUE for ${NAME} in the manifest")
    b.add_argument("--scripts", required=True, help="directory packed as Scripts")
    b.add_argument("--package-info", required=True, help="PackageInfo template")
    b.add_argument("--distribution", required=True, help="Distribution template")
    b.add_argument("--identifier", required=True)
    b.add_argument("--version", required=True)
    b.add_argument("--title", required=True)
    b.add_argument("--component", required=True, help="component directory name, e.g. frp.pkg")
    b.add_argument("--min-os", default="11.0")
    b.add_argument("--host-architectures", default="arm64")
    b.add_argument("--mtime", type=int, required=True, help="timestamp for every entry (SOURCE_DATE_EPOCH)")
    b.set_defaults(func=cmd_build)
    i = sub.add_parser("inspect", help="verify the xar checksums and list the members")
    i.add_argument("pkg")
    i.add_argument("--toc", action="store_true", help="print the TOC XML instead")
    i.set_defaults(func=cmd_inspect)
    e = sub.add_parser("extract", help="write the xar members (after verifying) into DIR")
    e.add_argument("pkg")
    e.add_argument("dir")
    e.set_defaults(func=cmd_extract)
    lb = sub.add_parser("lsbom", help="list a Bom: path, mode, uid/gid, size, cksum")
    lb.add_argument("bom")
    lb.set_defaults(func=cmd_lsbom)
    args = ap.parse_args(argv)
    try:
        args.func(args)
    except ValueError as err:
        raise SystemExit(f"flatpkg: {err}")


if __name__ == "__main__":
    main()
