#!/usr/bin/env python3
"""Assertions on dist/frp-<version>-arm64.pkg; run through packaging/check-pkg.

Reads the package with tools that share no code with pkg/flatpkg.py wherever one exists:
7-Zip for the xar, GNU cpio for the Payload and Scripts, GNU cksum for the BOM checksums,
xmllint for the XML, LLVM's Mach-O tools for the binaries, plistlib for the plists.
Prints one line per assertion and "N passed, M failed" last; exits 1 on any failure.
"""

import argparse
import calendar
import filecmp
import hashlib
import os
import plistlib
import re
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import time
import tomllib
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flatpkg  # noqa: E402

IDENTIFIER = "org.frp-rs.frp.pkg"
COMPONENT = "frp.pkg"
MIN_OS = "11.0"

# The whole payload, in cpio order: (path, type, mode).
PAYLOAD = [
    (".", "d", 0o755),
    ("./Library", "d", 0o755),
    ("./Library/LaunchDaemons", "d", 0o755),
    ("./Library/LaunchDaemons/org.frp-rs.frpc.plist", "-", 0o644),
    ("./Library/LaunchDaemons/org.frp-rs.frps.plist", "-", 0o644),
    ("./usr", "d", 0o755),
    ("./usr/local", "d", 0o755),
    ("./usr/local/bin", "d", 0o755),
    ("./usr/local/bin/frpc", "-", 0o755),
    ("./usr/local/bin/frps", "-", 0o755),
    ("./usr/local/etc", "d", 0o755),
    ("./usr/local/etc/frp", "d", 0o755),
    ("./usr/local/etc/frp/frpc.toml.example", "-", 0o644),
    ("./usr/local/etc/frp/frps.toml.example", "-", 0o644),
]
# The dylibs an arm64 frps/frpc may link: libSystem, and what zig's libc stubs may add.
ALLOWED_DYLIBS = {"/usr/lib/libSystem.B.dylib", "/usr/lib/libiconv.2.dylib", "/usr/lib/libcharset.1.dylib"}

passed = failed = 0


def check(cond, what, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok    {what}")
    else:
        failed += 1
        print(f"FAIL  {what}" + (f": {detail}" if detail else ""))
    return cond


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=kw.pop("text", True), **kw)


def mode_string(kind, mode):
    bits = "rwxrwxrwx"
    return kind + "".join(b if mode & (1 << (8 - i)) else "-" for i, b in enumerate(bits))


def cpio_list(gz_path):
    """GNU cpio's view of a gzip'd cpio: [(mode string, nlink, uid, gid, size, name)]."""
    with open(gz_path, "rb") as f:
        p = subprocess.run(["sh", "-c", "gzip -dc | cpio -itv --numeric-uid-gid --quiet"],
                           stdin=f, capture_output=True, text=True)
    if p.returncode != 0:
        return None, p.stderr
    rows = []
    for line in p.stdout.splitlines():
        f = line.split(None, 8)
        rows.append((f[0], int(f[1]), int(f[2]), int(f[3]), int(f[4]), f[8]))
    return rows, ""


def cpio_magic(gz_path):
    with open(gz_path, "rb") as f:
        p = subprocess.run(["gzip", "-dc"], stdin=f, capture_output=True)
    return p.stdout[:6], p.stdout


def find_tool(*names):
    for n in names:
        path = shutil.which(n)
        if path:
            return path
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pkg", required=True)
    ap.add_argument("--bin-dir", required=True, help="the frps and frpc the payload must hold")
    ap.add_argument("--host-bin-dir", default="", help="frps/frpc for this machine, to verify the configs")
    ap.add_argument("--signed", action="store_true")
    ap.add_argument("--rebuild", default="", help="command that rebuilds the package into $FRP_PKG_OUT")
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "Cargo.toml"), "rb") as f:
        version = tomllib.load(f)["package"]["version"]
    work = tempfile.mkdtemp(prefix="check-pkg.")
    try:
        checks(args, root, version, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def checks(args, root, version, work):
    pkg = args.pkg
    print(f"# {pkg}: {os.path.getsize(pkg)} bytes")
    check(os.path.basename(pkg) == f"frp-{version}-arm64.pkg", f"file name frp-{version}-arm64.pkg",
          os.path.basename(pkg))

    # --- the xar, read by 7-Zip --------------------------------------------------------
    sz = find_tool("7zz", "7z")
    t = run([sz, "t", pkg])
    check(t.returncode == 0 and "Everything is Ok" in t.stdout, "7-Zip tests the archive OK",
          t.stdout[-500:] + t.stderr)
    lst = run([sz, "l", "-slt", pkg])
    check(re.search(r"^Type = xar$", lst.stdout, re.M | re.I) is not None
          and f"Physical Size = {os.path.getsize(pkg)}\n" in lst.stdout,
          "7-Zip reads it as xar and accounts for every byte", lst.stdout[:600])
    items = [dict(re.findall(r"^(.+?) = (.*)$", blk, re.M))
             for blk in lst.stdout.split("\n----------\n", 1)[-1].split("\n\n") if "Path = " in blk]
    # 7-Zip shows the TOC itself as "[TOC].xml".
    paths7 = sorted(i["Path"] for i in items if i["Path"] != "[TOC].xml")
    want = sorted(["Distribution", COMPONENT, f"{COMPONENT}/Bom", f"{COMPONENT}/Payload",
                   f"{COMPONENT}/Scripts", f"{COMPONENT}/PackageInfo"])
    check(paths7 == want, "xar members: Distribution and frp.pkg/{Bom,Payload,Scripts,PackageInfo}",
          str(paths7))
    check(all(i.get("User ID") == "0" and i.get("Group ID") == "0" for i in items if i["Path"] in want),
          "xar members owned by 0:0 (root:wheel)")
    x7 = os.path.join(work, "7z")
    xr = run([sz, "x", "-y", f"-o{x7}", pkg])
    check(xr.returncode == 0, "7-Zip extracts it", xr.stderr)

    # --- the same xar, read and checksum-verified by flatpkg's reader -------------------
    with open(pkg, "rb") as f:
        blob = f.read()
    try:
        toc, members = flatpkg.read_xar(blob)
        check(True, "xar TOC sha1 and every member's archived/extracted sha1 verify")
    except ValueError as err:
        check(False, "xar checksums verify", str(err))
        return
    same = all(data is None or open(os.path.join(x7, p), "rb").read() == data
               for p, (_m, data) in members.items())
    check(same and sorted(members) == want, "7-Zip and flatpkg extract the same bytes")
    toc_root = ET.fromstring(toc).find("toc")
    check(toc_root.find("creation-time") is not None, "TOC has a creation-time")
    check(args.signed or toc_root.find("signature") is None, "TOC has no signature (unsigned build)")
    enc = {}

    def walk(e, prefix):
        for f in e.findall("file"):
            p = prefix + f.findtext("name")
            d = f.find("data")
            if d is not None:
                enc[p] = d.find("encoding").get("style")
            walk(f, p + "/")
    walk(toc_root, "")
    check(enc.get(f"{COMPONENT}/Payload") == "application/octet-stream"
          and enc.get(f"{COMPONENT}/Scripts") == "application/octet-stream",
          "Payload and Scripts stored as application/octet-stream (already gzip'd)", str(enc))
    check(all(enc[p] == "application/x-gzip" for p in ("Distribution", f"{COMPONENT}/Bom",
                                                       f"{COMPONENT}/PackageInfo")),
          "Distribution, Bom, PackageInfo zlib-compressed (application/x-gzip)", str(enc))
    comp_dir = os.path.join(x7, COMPONENT)

    # --- Payload: gzip'd odc cpio -------------------------------------------------------
    payload = os.path.join(comp_dir, "Payload")
    magic, raw = cpio_magic(payload)
    check(magic == b"070707", "Payload is gzip'd cpio in odc format (070707)", repr(magic))
    rows, err = cpio_list(payload)
    if not check(rows is not None, "cpio -itv reads the Payload", err):
        return
    names = [r[5] for r in rows]
    check(names == [p for p, _t, _m in PAYLOAD], "Payload paths (relative, directories included, sorted)",
          str(names))
    bad = [f"{r[5]} {r[0]} {r[2]}:{r[3]}" for r, (p, t, m) in zip(rows, PAYLOAD)
           if r[0] != mode_string(t, m) or r[2] != 0 or r[3] != 0]
    check(not bad and len(rows) == len(PAYLOAD), "Payload modes as listed and owner 0:0 (root:wheel)",
          ", ".join(bad))
    proot = os.path.join(work, "payload")
    os.makedirs(proot)
    with open(payload, "rb") as f:
        p = subprocess.run(["sh", "-c", "gzip -dc | cpio -idm --no-absolute-filenames --quiet"],
                           stdin=f, cwd=proot, capture_output=True, text=True)
    check(p.returncode == 0, "cpio -idm --no-absolute-filenames unpacks the Payload", p.stderr)

    def pl(rel):
        return os.path.join(proot, rel)

    for b in ("frps", "frpc"):
        check(filecmp.cmp(pl(f"usr/local/bin/{b}"), os.path.join(args.bin_dir, b), shallow=False),
              f"/usr/local/bin/{b} is byte-identical to {os.path.join(args.bin_dir, b)}")
    for name in ("frps", "frpc"):
        plist_rel = f"Library/LaunchDaemons/org.frp-rs.{name}.plist"
        check(filecmp.cmp(pl(plist_rel), os.path.join(root, "launchd", f"org.frp-rs.{name}.plist"),
                          shallow=False), f"/{plist_rel} is byte-identical to launchd/")
        with open(pl(plist_rel), "rb") as f:
            job = plistlib.load(f)
        check(job.get("Label") == f"org.frp-rs.{name}", f"{name} plist Label", str(job.get("Label")))
        check(job.get("ProgramArguments") == [f"/usr/local/bin/{name}", "-c", f"/usr/local/etc/frp/{name}.toml"],
              f"{name} plist ProgramArguments run the installed binary on the installed config",
              str(job.get("ProgramArguments")))
        check(job.get("RunAtLoad") is True, f"{name} plist RunAtLoad")
        check(os.path.dirname(job.get("StandardErrorPath", "")) == "/usr/local/var/log/frp",
              f"{name} plist logs into /usr/local/var/log/frp (made by postinstall)")
        check(filecmp.cmp(pl(f"usr/local/etc/frp/{name}.toml.example"),
                          os.path.join(root, "pkg", f"{name}.toml.example"), shallow=False),
              f"/usr/local/etc/frp/{name}.toml.example is pkg/{name}.toml.example")
    check(not os.path.exists(pl("usr/local/etc/frp/frps.toml"))
          and not os.path.exists(pl("usr/local/etc/frp/frpc.toml")),
          "the payload holds no frps.toml/frpc.toml (an upgrade never overwrites a config)")

    # --- Bom, compared with what cpio unpacked ------------------------------------------
    with open(os.path.join(comp_dir, "Bom"), "rb") as f:
        bom_bytes = f.read()
    try:
        bom = flatpkg.read_bom(bom_bytes)
        check(True, "Bom parses (BOMStore: vars BomInfo/Paths/HLIndex/VIndex/Size64, Paths tree)")
    except (ValueError, KeyError, IndexError) as err:
        check(False, "Bom parses", repr(err))
        return
    bom_by_path = {e[0]: e for e in bom}
    check(sorted(bom_by_path) == sorted(p for p, _t, _m in PAYLOAD) and len(bom) == len(PAYLOAD),
          "Bom lists exactly the Payload paths", str(sorted(bom_by_path)))
    # B-tree order: breadth-first from ".", siblings sorted by name (lsbom stops at a key
    # out of order).
    kids = {}
    for path in bom_by_path:
        if path != ".":
            kids.setdefault(os.path.dirname(path), []).append(path)
    order, queue = [], ["."]
    while queue:
        here = queue.pop(0)
        order.append(here)
        queue += sorted(kids.get(here, []), key=lambda q: os.path.basename(q).encode())
    check([e[0] for e in bom] == order, "Bom paths in B-tree order (breadth-first, names sorted)",
          str([e[0] for e in bom]))
    bad = []
    for path, kind, mode in PAYLOAD:
        e = bom_by_path.get(path)
        if e is None:
            continue
        _p, bmode, uid, gid, size, cksum, _mt = e
        full = (stat.S_IFDIR if kind == "d" else stat.S_IFREG) | mode
        if bmode != full or uid != 0 or gid != 0:
            bad.append(f"{path} {bmode:o} {uid}/{gid}")
        if kind == "-":
            real = pl(path)
            ck = run(["cksum", real]).stdout.split()
            if size != os.path.getsize(real) or str(cksum) != ck[0]:
                bad.append(f"{path} size {size} cksum {cksum} vs cksum(1) {ck[:2]}")
    check(not bad, "Bom modes, 0/0 owners, sizes and checksums (= GNU cksum of the unpacked files)",
          "; ".join(bad))

    # --- PackageInfo and Distribution ----------------------------------------------------
    pi_path = os.path.join(comp_dir, "PackageInfo")
    dist_path = os.path.join(x7, "Distribution")
    xmllint = find_tool("xmllint")
    for p in (pi_path, dist_path):
        r = run([xmllint, "--noout", p])
        check(r.returncode == 0 and not r.stderr, f"xmllint --noout {os.path.basename(p)}", r.stderr)
    pi = ET.parse(pi_path).getroot()
    a = pi.attrib
    check(pi.tag == "pkg-info" and a.get("format-version") == "2" and a.get("identifier") == IDENTIFIER
          and a.get("version") == version and a.get("install-location") == "/" and a.get("auth") == "root",
          f"PackageInfo: format-version 2, {IDENTIFIER}, version {version}, install-location /, auth root",
          str(a))
    pay = pi.find("payload")
    nodes = {e[0]: e for e in bom if e[0] != "."}
    blocks = sum(1 if stat.S_ISDIR(e[1]) else -(-e[4] // 512) for e in nodes.values())
    check(pay is not None and pay.get("numberOfFiles") == str(len(bom))
          and pay.get("installKBytes") == str(-(-blocks // 2)),
          f"PackageInfo payload numberOfFiles={len(bom)} installKBytes={-(-blocks // 2)}",
          str(pay.attrib if pay is not None else None))
    post = pi.find("scripts/postinstall")
    check(post is not None and post.get("file") == "./postinstall", "PackageInfo names ./postinstall")
    check(pi.find("bundle-version") is not None, "PackageInfo has <bundle-version/>")
    d = ET.parse(dist_path).getroot()
    check(d.tag == "installer-gui-script" and d.get("minSpecVersion") == "2",
          "Distribution: installer-gui-script minSpecVersion 2")
    check(bool((d.findtext("title") or "").strip()), "Distribution has a title")
    o = d.find("options")
    check(o is not None and o.get("customize") == "never" and o.get("require-scripts") == "false"
          and o.get("hostArchitectures") == "arm64",
          "Distribution options: customize never, require-scripts false, hostArchitectures arm64",
          str(o.attrib if o is not None else None))
    osv = d.find("volume-check/allowed-os-versions/os-version")
    check(osv is not None and osv.get("min") == MIN_OS, f"Distribution requires macOS {MIN_OS} or later")
    line = d.find("choices-outline/line")
    check(line is not None and line.get("choice") == "default"
          and [c.get("choice") for c in line.findall("line")] == [IDENTIFIER],
          "Distribution choices-outline: default > the package")
    ch = [c for c in d.findall("choice") if c.get("id") == IDENTIFIER]
    check(len(ch) == 1 and [r.get("id") for r in ch[0].findall("pkg-ref")] == [IDENTIFIER],
          "Distribution choice holds the pkg-ref")
    refs = [r for r in d.findall("pkg-ref") if (r.text or "").strip()]
    check(len(refs) == 1 and refs[0].get("id") == IDENTIFIER and refs[0].get("version") == version
          and refs[0].text.strip() == f"#{COMPONENT}"
          and refs[0].get("installKBytes") == (pay.get("installKBytes") if pay is not None else None),
          f"Distribution pkg-ref {IDENTIFIER} {version} -> #{COMPONENT}",
          str([(r.attrib, r.text) for r in refs]))

    # --- Scripts and the postinstall, run against the unpacked payload ------------------
    scripts = os.path.join(comp_dir, "Scripts")
    magic, _ = cpio_magic(scripts)
    check(magic == b"070707", "Scripts is gzip'd cpio in odc format", repr(magic))
    srows, err = cpio_list(scripts)
    check(srows is not None and [(r[0], r[2], r[3], r[5]) for r in srows]
          == [("drwxr-xr-x", 0, 0, "."), ("-rwxr-xr-x", 0, 0, "./postinstall")],
          "Scripts holds ./postinstall, 0755 root:wheel", str(srows) + err)
    sroot = os.path.join(work, "scripts")
    os.makedirs(sroot)
    with open(scripts, "rb") as f:
        subprocess.run(["sh", "-c", "gzip -dc | cpio -idm --no-absolute-filenames --quiet"],
                       stdin=f, cwd=sroot, check=True)
    post_path = os.path.join(sroot, "postinstall")
    check(filecmp.cmp(post_path, os.path.join(root, "pkg", "scripts", "postinstall"), shallow=False),
          "postinstall is pkg/scripts/postinstall")
    r = run(["sh", "-n", post_path])
    check(r.returncode == 0, "postinstall: sh -n", r.stderr)
    with open(post_path) as f:
        code, in_heredoc = [], False
        for ln in f:
            if in_heredoc:
                in_heredoc = ln.strip() != "EOF"
                continue
            if re.match(r"\s*cat <<'EOF'", ln):
                in_heredoc = True
                continue
            if not ln.lstrip().startswith("#"):
                code.append(ln)
    check(not any("launchctl" in ln for ln in code), "postinstall never runs launchctl (prints how to)")
    postinstall_run(args, post_path, proot, work)

    # --- the Mach-O binaries -------------------------------------------------------------
    objdump = find_tool("llvm-objdump", "llvm-objdump-14", "llvm-objdump-15", "llvm-objdump-16")
    otool = find_tool("llvm-otool", "llvm-otool-14", "llvm-otool-15", "llvm-otool-16")
    for b in ("frps", "frpc"):
        path = pl(f"usr/local/bin/{b}")
        if otool:
            r = run([otool, "-L", path])
            libs = [ln.split(" (")[0].strip() for ln in r.stdout.splitlines()[1:] if ln.strip()]
            tool = os.path.basename(otool) + " -L"
        else:
            r = run([objdump, "--macho", "--dylibs-used", path])
            libs = [ln.split(" (")[0].strip() for ln in r.stdout.splitlines()[1:] if ln.strip()]
            tool = "llvm-objdump --macho --dylibs-used"
        check(r.returncode == 0 and "/usr/lib/libSystem.B.dylib" in libs and set(libs) <= ALLOWED_DYLIBS,
              f"{b} links only libSystem (+libiconv/libcharset) [{tool}: {', '.join(libs)}]",
              r.stdout + r.stderr)
        r = run([objdump, "--macho", "--private-headers", path])
        h = r.stdout
        check(re.search(r"MH_MAGIC_64\s+ARM64\s+\S+\s+\S+\s+EXECUTE", h) is not None,
              f"{b} is a 64-bit arm64 Mach-O executable", h[:400])
        bv = re.search(r"cmd LC_BUILD_VERSION\n(?:.*\n){0,4}?\s*minos (\S+)", h)
        plat = re.search(r"cmd LC_BUILD_VERSION\n(?:.*\n){0,3}?\s*platform (\S+)", h)
        check(bv is not None and bv.group(1) == MIN_OS and plat is not None and plat.group(1) in ("1", "MACOS", "macos"),
              f"{b} LC_BUILD_VERSION platform macos, minos {MIN_OS}",
              (bv.group(0) if bv else "no LC_BUILD_VERSION"))
        sig = code_signature(path)
        check(isinstance(sig, tuple) and (args.signed or sig[0] & 0x2),
              f"{b} code signature valid: every page hash matches"
              + (f" ({'ad-hoc' if sig[0] & 0x2 else 'signed'}, flags {sig[0]:#x}, {sig[1]})"
                 if isinstance(sig, tuple) else "")
              + " (arm64 macOS runs nothing unsigned)", str(sig))
        check("cmd LC_MAIN" in h and " PIE" in h, f"{b} has LC_MAIN and is PIE")

    # --- reproducible ---------------------------------------------------------------------
    if args.rebuild and not args.signed:
        ct = toc_root.findtext("creation-time")
        epoch = calendar.timegm(time.strptime(ct, "%Y-%m-%dT%H:%M:%S"))
        again = os.path.join(work, "again.pkg")
        env = dict(os.environ, FRP_PKG_OUT=again, SOURCE_DATE_EPOCH=str(epoch), FRP_PKG_BIN_DIR=args.bin_dir)
        r = run(["sh", "-c", args.rebuild], env=env)
        check(r.returncode == 0 and os.path.exists(again) and filecmp.cmp(again, pkg, shallow=False),
              f"rebuilding with SOURCE_DATE_EPOCH={epoch} gives a byte-identical package",
              r.stdout[-300:] + r.stderr[-300:])


def code_signature(path):
    """Check the Mach-O's embedded signature: -> (flags, identifier) or an error string.

    Finds LC_CODE_SIGNATURE, the SuperBlob (0xfade0cc0) and its CodeDirectory (0xfade0c02),
    and recomputes every code page hash: arm64 macOS kills a binary whose pages do not match.
    """
    with open(path, "rb") as f:
        b = f.read()
    magic, _cpu, _sub, _ft, ncmds, _sz, _fl, _r = struct.unpack_from("<IiiIIIII", b, 0)
    if magic != 0xFEEDFACF:
        return "not a 64-bit Mach-O"
    off, cs = 32, None
    for _ in range(ncmds):
        cmd, size = struct.unpack_from("<II", b, off)
        if cmd == 0x1D:  # LC_CODE_SIGNATURE
            cs = struct.unpack_from("<II", b, off + 8)
        off += size
    if cs is None:
        return "no LC_CODE_SIGNATURE"
    dataoff, datasize = cs
    sb = b[dataoff:dataoff + datasize]
    m, _len, count = struct.unpack_from(">III", sb, 0)
    if m != 0xFADE0CC0:
        return f"bad SuperBlob magic {m:#x}"
    for i in range(count):
        _typ, o = struct.unpack_from(">II", sb, 12 + 8 * i)
        if struct.unpack_from(">I", sb, o)[0] != 0xFADE0C02:
            continue
        cd = sb[o:]
        (_m, _l, _ver, flags, hashoff, identoff, _nspecial, ncode, codelimit, hsize, htype, _plat,
         pgshift) = struct.unpack_from(">IIIIIIIIIBBBB", cd, 0)
        algo = {1: hashlib.sha1, 2: hashlib.sha256}.get(htype)
        if algo is None:
            return f"hash type {htype}"
        page = 1 << pgshift
        if codelimit != dataoff or ncode != -(-codelimit // page):
            return f"code limit {codelimit} / {ncode} pages do not cover the file up to {dataoff}"
        for k in range(ncode):
            want = cd[hashoff + k * hsize:hashoff + (k + 1) * hsize]
            if algo(b[k * page:min((k + 1) * page, codelimit)]).digest()[:hsize] != want:
                return f"page {k} hash mismatch"
        return flags, cd[identoff:cd.index(b"\0", identoff)].decode()
    return "no CodeDirectory"


def postinstall_run(args, post_path, proot, work):
    if os.geteuid() != 0:
        print("note  postinstall not run: needs root (its chown 0:0)")
        return
    vol = os.path.join(work, "volume")
    shutil.copytree(proot, vol, symlinks=True)
    etc = os.path.join(vol, "usr/local/etc/frp")
    logdir = os.path.join(vol, "usr/local/var/log/frp")
    r = run(["/bin/sh", post_path, "/tmp/frp.pkg", "/", vol + "/"])
    check(r.returncode == 0, "postinstall exits 0 on a fresh volume", r.stdout + r.stderr)
    check("sudo launchctl bootstrap system /Library/LaunchDaemons/org.frp-rs.frps.plist" in r.stdout,
          "postinstall prints how to load frps")
    st = os.stat(logdir) if os.path.isdir(logdir) else None
    check(st is not None and stat.S_IMODE(st.st_mode) == 0o755 and st.st_uid == 0 and st.st_gid == 0,
          "postinstall creates /usr/local/var/log/frp 0755 root:wheel")
    for name in ("frps", "frpc"):
        conf = os.path.join(etc, f"{name}.toml")
        st = os.stat(conf) if os.path.exists(conf) else None
        check(st is not None and stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0 and st.st_gid == 0,
              f"postinstall writes {name}.toml 0600 root:wheel")
    with open(os.path.join(etc, "frps.toml")) as f:
        frps = f.read()
    with open(os.path.join(etc, "frps.toml.example")) as f:
        example = f.read()
    tok = re.search(r'^auth\.token = "([0-9a-f]{48})"$', frps, re.M)
    check(tok is not None and re.sub(r'^auth\.token = ".*"$', "", frps, flags=re.M)
          == re.sub(r'^auth\.token = ".*"$', "", example, flags=re.M),
          "frps.toml = the example with a random 48-hex-digit auth.token")
    check(filecmp.cmp(os.path.join(etc, "frpc.toml"), os.path.join(etc, "frpc.toml.example"), shallow=False),
          "frpc.toml = the example")
    for name in ("frps", "frpc"):
        exe = os.path.join(args.host_bin_dir, name) if args.host_bin_dir else ""
        if exe and os.access(exe, os.X_OK):
            r = run([exe, "verify", "-c", os.path.join(etc, f"{name}.toml")])
            check(r.returncode == 0, f"{name} verify accepts the installed {name}.toml", r.stdout + r.stderr)
        else:
            print(f"note  {name}.toml not verified: no {name} for this machine (--host-bin-dir)")
    # Second run (an upgrade): the edited config and a hand-made log directory stay as they are.
    with open(os.path.join(etc, "frps.toml"), "a") as f:
        f.write("# edited by hand\n")
    os.chmod(logdir, 0o700)
    before = open(os.path.join(etc, "frps.toml")).read()
    r = run(["/bin/sh", post_path, "/tmp/frp.pkg", "/", vol])
    check(r.returncode == 0 and r.stdout.count("kept the existing") == 2,
          "postinstall run again keeps both existing configs", r.stdout + r.stderr)
    check(open(os.path.join(etc, "frps.toml")).read() == before
          and stat.S_IMODE(os.stat(os.path.join(etc, "frps.toml")).st_mode) == 0o600,
          "an existing frps.toml is left byte-for-byte and 0600")
    check(stat.S_IMODE(os.stat(logdir).st_mode) == 0o700, "an existing log directory keeps its mode")
    left = [n for n in os.listdir(etc) if "postinstall" in n]
    check(not left, "postinstall leaves no temporary files", str(left))


if __name__ == "__main__":
    sys.exit(main())
