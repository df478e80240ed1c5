#!/usr/bin/env python3
"""What the release binary's megabytes and its idle resident pages are, by section and by library.

    python3 bench/pages.py [BINARY]     # default: the unstripped release build in .build-release

Starts `instagram-auth serve` idle (the emulator's app settings, no web server), reads which of its pages are
resident from /proc/PID/pagemap (root), and sets them beside the binary's sections (readelf) and symbols (nm).
A library's share is the bytes of its symbols that lie in resident pages; symbols are given to a library by their
Swift module (from the mangled name) or, for C, by their prefix, so the split is close, not exact. Needs the
unstripped binary for the library table; strip changes no address.
"""

import collections
import os
import re
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402

C_LIBRARIES = [
    (r"(u_|ucol|ubrk|ucnv|uloc|ures|unorm|uprv|utrie|uset|ucase|uchar|ustr|utext|ucurr|uregex|ucal|udat|unum|icu)|icu_", "ICU (Foundation's internationalization)"),
    (r"sqlite3", "SQLite"),
    (r"(FCGX|FCGI|OS_)", "libfcgi"),
    (r"_?(CRYPTO|EVP|BN_|SSL|X509|ASN1|RSA|EC_|ec_|bn_|aes|sha|x25519|ED25519|OPENSSL|d2i|i2d|PEM|HMAC|BIO|ERR|CBS|CBB|OBJ|DH_|DSA|"
     r"ECDSA|gcm|md5|sk_|lh_|bssl|CCryptoBoringSSL|CNIOBoringSSL)", "BoringSSL (swift-crypto, NIOSSL)"),
    (r"(_ZN5swift|swift_|_swift)", "Swift runtime"),
    (r"(dispatch_|_dispatch)", "libdispatch"),
    (r"(CF|__CF|_CF)", "CoreFoundation"),
    (r"_Z", "C++ (runtime, libdispatch)"),
]


def library(symbol):
    match = re.match(r"_?\$s(\d+)([A-Za-z_][A-Za-z0-9_]*)", symbol)
    if match and int(match.group(1)) <= len(match.group(2)):
        return match.group(2)[:int(match.group(1))]
    if symbol.startswith(("$s", "_$s")):
        return "Swift (standard library and shared generics)"
    if "icu_" in symbol:
        return "ICU (Foundation's internationalization)"
    if "BoringSSL" in symbol:
        return "BoringSSL (swift-crypto, NIOSSL)"
    for pattern, name in C_LIBRARIES:
        if re.match(pattern, symbol, re.I):
            return name
    return "other C"


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(bench.ROOT, ".build-release", "release", "instagram-auth")
    sections = []
    for line in subprocess.run(["readelf", "-S", "-W", binary], capture_output=True, text=True, check=True).stdout.splitlines():
        match = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", line)
        if match and int(match.group(2), 16):
            sections.append((match.group(1), int(match.group(2), 16), int(match.group(3), 16)))
    symbols = []
    for line in subprocess.run(["nm", "-S", "--defined-only", binary], capture_output=True, text=True).stdout.splitlines():
        parts = line.split()
        if len(parts) == 4 and int(parts[1], 16):
            symbols.append((int(parts[0], 16), int(parts[1], 16), parts[3]))
    folder = tempfile.mkdtemp(prefix="instagram-auth-pages-")
    socket_path = os.path.join(folder, "s.sock")
    environment = dict(os.environ, INSTAGRAM_APP_ID=bench.APP_ID, INSTAGRAM_APP_SECRET=bench.APP_SECRET,
                       INSTAGRAM_REDIRECT_URI="http://127.0.0.1/instagram/", INSTAGRAM_AUTH_DATABASE=os.path.join(folder, "a.sqlite3"),
                       INSTAGRAM_AUTH_STATE_SECRET="pages-state-secret-0123456789abcdef", INSTAGRAM_AUTH_ALLOWED_USERS="*")
    server = subprocess.Popen([binary, "serve", "--socket", socket_path, "--log-level", "warning"], env=environment)
    try:
        bench.wait_for(lambda: os.path.exists(socket_path), "instagram-auth serve")
        time.sleep(1)
        base = next(int(line.split("-")[0], 16) for line in open(f"/proc/{server.pid}/maps") if os.path.basename(binary) in line)
        pagemap = open(f"/proc/{server.pid}/pagemap", "rb")

        def resident_bytes(start, size):
            """Bytes of [start, start + size) in resident pages."""
            first, last = (base + start) // 4096, (base + start + size - 1) // 4096
            pagemap.seek(first * 8)
            entries = pagemap.read((last - first + 1) * 8)
            total = 0
            for index in range(last - first + 1):
                if struct.unpack_from("<Q", entries, index * 8)[0] >> 63:
                    low, high = max(base + start, (first + index) * 4096), min(base + start + size, (first + index + 1) * 4096)
                    total += high - low
            return total

        mib = 2 ** 20
        rss = int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{server.pid}/status").read()).group(1)) / 1024
        print(f"{binary}: {os.path.getsize(binary) / 1e6:.1f} MB; idle RSS {rss:.1f} MiB\n")
        print("| section | MiB in the binary | MiB resident, idle |\n|---|---:|---:|")
        for name, address, size in sections:
            if size >= 100_000:
                print(f"| {name} | {size / mib:.1f} | {resident_bytes(address, size) / mib:.1f} |")
        sizes, resident = collections.Counter(), collections.Counter()
        for address, size, name in symbols:
            owner = library(name)
            sizes[owner] += size
            resident[owner] += resident_bytes(address, size)
        print("\n| library | MiB in the binary | MiB resident, idle |\n|---|---:|---:|")
        for owner, size in sizes.most_common(25):
            print(f"| {owner} | {size / mib:.2f} | {resident[owner] / mib:.2f} |")
    finally:
        server.terminate()
        server.wait(10)
        subprocess.run(["rm", "-rf", folder])


if __name__ == "__main__":
    main()
