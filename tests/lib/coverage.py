#!/usr/bin/env python3
"""Line coverage of the module's sources by the debug-kernel guest run.

  coverage.py GCDA_DIR

GCDA_DIR holds the .gcda files the guest copied out of debugfs, under the
absolute paths of the build directories they belong to (the module is built
twice, with and without the KUnit suites: build/kmod-debug, build/kmod-kunit).
Each is put beside its .gcno, read with gcov's JSON output, and the lines of
each kmod/*.c file that either build executed are united.  Prints one line
per file, "FILE LINES EXECUTED PERCENT", then "total ...".  Exit 1 when a
source file has no data at all, unless it holds no code (only data).
"""
import gzip
import json
import os
import shutil
import subprocess
import sys


def gcov_json(objdir, stem):
    out = subprocess.run(
        ["gcov", "--json-format", "--stdout", "-o", objdir, stem + ".c"],
        cwd=objdir, capture_output=True, check=False)
    data = out.stdout
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    docs = []
    for line in data.decode(errors="replace").splitlines():
        line = line.strip()
        if line.startswith("{"):
            docs.append(json.loads(line))
    return docs


def no_code(objdirs, stem):
    """Whether kmod/STEM.c was built into a function-less object (data only,
    like the known-answer vectors): gcc then writes a .gcno naming no
    function, and the kernel keeps no counts for it."""
    for objdir in objdirs:
        if not os.path.exists(os.path.join(objdir, stem + ".gcno")):
            continue
        docs = gcov_json(objdir, stem)
        return bool(docs) and all(not d.get("files") for d in docs)
    return False


def collect(gcda_dir, objdirs):
    lines = {}        # "kmod/x.c" -> {line: executed?}
    for root, _, files in os.walk(gcda_dir):
        for f in files:
            if not f.endswith(".gcda"):
                continue
            objdir = "/" + os.path.relpath(root, gcda_dir)
            objdirs.add(objdir)
            if not os.path.exists(os.path.join(objdir, f[:-5] + ".gcno")):
                continue
            shutil.copy(os.path.join(root, f), os.path.join(objdir, f))
            for doc in gcov_json(objdir, f[:-5]):
                for src in doc.get("files", []):
                    name = src["file"]
                    if "/kmod/" not in name or not name.endswith(".c"):
                        continue
                    key = "kmod/" + name.rsplit("/kmod/", 1)[1]
                    seen = lines.setdefault(key, {})
                    for ln in src.get("lines", []):
                        n = ln["line_number"]
                        seen[n] = seen.get(n, False) or ln["count"] > 0
    return lines


def main():
    objdirs = set()
    lines = collect(sys.argv[1], objdirs)
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sources = sorted("kmod/" + f for f in os.listdir(os.path.join(top, "kmod"))
                     if f.endswith(".c"))
    missing = 0
    tot = hit = 0
    for src in sources:
        seen = lines.get(src)
        if not seen and no_code(objdirs, src[len("kmod/"):-2]):
            print(f"{src:24} no code (data only)")
            continue
        if not seen:
            print(f"{src:24} no data")
            missing += 1
            continue
        n, x = len(seen), sum(seen.values())
        tot, hit = tot + n, hit + x
        print(f"{src:24} {n:5} {x:5} {100.0 * x / n:6.1f}%")
    if tot:
        print(f"{'total':24} {tot:5} {hit:5} {100.0 * hit / tot:6.1f}%")
    return 1 if missing or not tot else 0


if __name__ == "__main__":
    sys.exit(main())
