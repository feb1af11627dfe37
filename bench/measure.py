#!/usr/bin/env python3
"""Runs a command and prints its wall time, CPU time (user + sys), peak memory and the bytes
it wrote (/proc/PID/io, read while the process is a zombie, before it is reaped), as JSON."""
import json, os, subprocess, sys, time

def main():
    start = time.monotonic()
    proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
    # Wait for the exit without reaping, so /proc/PID/io still holds the final counts.
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
    wall = time.monotonic() - start
    io = {}
    try:
        with open(f"/proc/{proc.pid}/io") as f:
            for line in f:
                k, v = line.split(":")
                io[k.strip()] = int(v)
    except OSError:
        pass
    _, status, usage = os.wait4(proc.pid, 0)
    print(json.dumps({
        "exit": os.waitstatus_to_exitcode(status),
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "max_rss_kb": usage.ru_maxrss,
        "write_bytes": io.get("write_bytes"),
        "wchar": io.get("wchar"),
        "cancelled_write_bytes": io.get("cancelled_write_bytes"),
    }))

if __name__ == "__main__":
    main()
