#!/usr/bin/env python3
"""Scrape a real bproc cluster's /metrics while a workload runs, for the
picture of the Grafana dashboard (render.py). Run as root from the
worktree after make:

    python3 docs/grafana/collect.py bin/bproc /tmp/scrapes.txt.gz

It starts bpmaster with four namespace nodes and --metrics on loopback,
scrapes every 2 s for 4 minutes while jobs come and go, holds node 3 with
a reason, silences node 2 for 15 s, and writes each scrape as
"# scrape UNIXTIME" followed by the page, gzipped. Standard library only.
"""
import glob
import gzip
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

DURATION = 240
INTERVAL = 2.0


def main():
    binary, out = os.path.abspath(sys.argv[1]), sys.argv[2]
    work = tempfile.mkdtemp(prefix="bproc-dash-", dir="/var/lib")
    os.chmod(work, 0o755)
    sock = os.path.join(work, "sock")
    env = dict(os.environ, BPROC_SOCKET=sock)
    log = open(os.path.join(work, "log"), "w+")
    master = subprocess.Popen([binary, "bpmaster", "--local-nodes", "4", "--socket", sock,
                               "--state-dir", os.path.join(work, "state"), "--listen", "127.0.0.1:0",
                               "--ping-timeout", "4s", "--metrics", "127.0.0.1:0",
                               "--node-up-dir", os.path.join(work, "node_up.d")],
                              stdout=log, stderr=log, cwd="/")
    jobs = []
    try:
        addr = None
        for _ in range(200):
            log.seek(0)
            m = re.search(r'metrics listening" addr=(\S+)', log.read())
            if m:
                addr = m.group(1)
                break
            time.sleep(0.1)
        if addr is None:
            sys.exit("bpmaster did not say where /metrics is")
        time.sleep(3)  # the nodes boot
        scrapes = []
        stop = threading.Event()
        threading.Thread(target=workload, args=(binary, env, master, log, jobs, stop), daemon=True).start()
        began = time.time()
        while time.time() - began < DURATION:
            t = time.time()
            body = urllib.request.urlopen("http://%s/metrics" % addr, timeout=5).read().decode()
            scrapes.append("# scrape %.3f\n%s" % (t, body))
            time.sleep(max(0, INTERVAL - (time.time() - t)))
        stop.set()
        with gzip.open(out, "wt") as f:
            f.write("".join(scrapes))
        print("%d scrapes written to %s" % (len(scrapes), out))
    finally:
        for j in jobs:
            if j.poll() is None:
                j.kill()
            j.wait()
        master.send_signal(signal.SIGTERM)
        master.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def node_pid(log, num):
    log.seek(0)
    m = re.search(r'local node started" node=%d pid=(\d+)' % num, log.read())
    return int(m.group(1))


def say(what, _=None):
    print("%s %s" % (time.strftime("%H:%M:%S"), what), file=sys.stderr, flush=True)


def workload(binary, env, master, log, jobs, stop):
    rnd = random.Random(20)
    files = sorted(glob.glob("/usr/lib/x86_64-linux-gnu/*.so*"))[:400]
    began = time.time()
    held = False
    # The silence runs on timers of its own: a job of the loop may wait
    # on the stopped node.
    slave = node_pid(log, 2)
    threading.Timer(100, lambda: say("SIGSTOP node 2", os.kill(slave, signal.SIGSTOP))).start()
    threading.Timer(115, lambda: say("SIGCONT node 2", os.kill(slave, signal.SIGCONT))).start()
    while not stop.is_set():
        t = time.time() - began
        # Jobs come and go: more of them in the middle of the run.
        busy = 1 + int(3 * max(0, 1 - abs(t - 120) / 120))
        for _ in range(busy):
            nodes = rnd.choice(["0", "1", "2", "0-1", "0-2", "1-2"])
            secs = "%.1f" % rnd.uniform(4, 40)
            jobs.append(subprocess.Popen([binary, "bpsh", nodes, "sleep", secs], env=env, cwd="/",
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        # Reads through the view: the bytes served per node.
        node = rnd.choice("012")
        subprocess.run([binary, "bpsh", node, "cat"] + rnd.sample(files, 3), env=env, cwd="/",
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if t > 60 and not held:
            subprocess.run([binary, "bpctl", "-S", "3", "-s", "unavailable", "--reason", "bad DIMM"], env=env, check=True)
            say("node 3 held")
            held = True
        jobs[:] = [j for j in jobs if j.poll() is None]
        stop.wait(3)


if __name__ == "__main__":
    main()
