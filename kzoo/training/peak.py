"""This machine's matmul peak per precision, the denominator of MFU: measured robustly (the best
of several trials) and cached per machine kind, with the CPU features that decide it.

Example:
    >>> matmul_peak_flops("bfloat16") / matmul_peak_flops("float32")   # ~4 on AMX, < 1 on AVX2
"""

import json
import os
import platform
import time
from pathlib import Path

import tensorflow as tf

# The /proc/cpuinfo flags that decide which precision's products run fast.
FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "amx_tile")


def cpu_features() -> dict:
    """{"model": CPU model name, "cores": logical CPUs, flag: bool for each of FEATURES}."""
    model, flags = platform.processor() or "unknown", set()
    info = Path("/proc/cpuinfo")
    if info.exists():
        for line in info.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    return {"model": model, "cores": os.cpu_count(), **{f: f in flags for f in FEATURES}}


def matmul_peak_flops(dtype="float32", size=2048, trials=3, repeats=3) -> float:
    """The best of `trials` timings of `repeats` size³ products in `dtype` (FLOP/s), and of every
    earlier measurement on this machine kind: one timing under load from other processes reads
    low, and a low peak reads as MFU near or above 1. Kept per (CPU model, cores, dtype) in
    $KZOO_CACHE_DIR or ~/.cache/kzoo, so the figure only ever rises towards the machine's."""
    cache = _cache_file()
    key = f"{cpu_features()['model']}|{os.cpu_count()}|{dtype}|{size}"
    known = json.loads(cache.read_text()) if cache.exists() else {}
    measured = _measure(dtype, size, trials, repeats)
    if measured > known.get(key, 0.0):
        known[key] = measured
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(known, indent=1))
        partial.replace(cache)
    return known[key]


def _measure(dtype, size, trials, repeats) -> float:
    a = tf.cast(tf.random.normal([size, size]), dtype)
    product = tf.function(lambda: tf.reduce_sum(tf.cast(tf.matmul(a, a), "float32")))
    product().numpy()  # compile and warm up
    best = float("inf")
    for _ in range(trials):
        start = time.perf_counter()
        for _ in range(repeats):
            product().numpy()
        best = min(best, (time.perf_counter() - start) / repeats)
    return 2 * size**3 / best


def _cache_file() -> Path:
    root = os.environ.get("KZOO_CACHE_DIR") or Path.home() / ".cache" / "kzoo"
    return Path(root) / "matmul_peak.json"
