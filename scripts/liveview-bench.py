#!/usr/bin/python3
"""Live view, measured through the real daemon on the simulated camera: the frame rate a
host gets over HTTP, and a posed capture's latency (countdown 0) with no live view and with
live view running (the capture preempts it), at the default settle time and at 0, in one run.

    /usr/bin/python3 scripts/liveview-bench.py target/release/cosmosd [captures]
"""
import http.client, json, os, re, shutil, socket, statistics, subprocess, sys, tempfile, threading, time
from datetime import datetime, timedelta, timezone

BIN = os.path.abspath(sys.argv[1])
N = int(sys.argv[2]) if len(sys.argv) > 2 else 15


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def req(port, method, path, token=None, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    h = {"content-type": "application/json"}
    if token: h["authorization"] = "Bearer " + token
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
    r = c.getresponse(); data = r.read(); c.close()
    return r.status, (json.loads(data) if data and r.getheader("content-type", "").startswith("application/json") else data)


class Viewer(threading.Thread):
    """Reads multipart parts until the stream ends or `stop` is set."""
    def __init__(self, port, token, stop_after=None):
        super().__init__(daemon=True)
        self.port, self.token, self.frames, self.first = port, token, 0, threading.Event()
        self.stop_after, self.t0, self.t_end = stop_after, None, None
    def run(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        c.request("GET", "/api/camera/liveview", headers={"authorization": "Bearer " + self.token})
        r = c.getresponse()
        assert r.status == 200, (r.status, r.read())
        self.t0 = time.perf_counter()
        while True:
            line = r.readline()
            if not line: break
            m = re.match(rb"(?i)content-length:\s*(\d+)", line)
            if m:
                r.readline()  # the blank line after the part's headers
                r.read(int(m.group(1)))
                self.frames += 1
                self.first.set()
                if self.stop_after and time.perf_counter() - self.t0 >= self.stop_after:
                    break
        self.t_end = time.perf_counter()
        c.close()


def run(settle_ms):
    d = tempfile.mkdtemp(prefix="lvbench-")
    port = free_port()
    # the demo writes its config on first run; reuse it with our knobs
    demo = subprocess.Popen([BIN, "demo", "--listen", f"127.0.0.1:{port}"], cwd=d,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cfg = os.path.join(d, "cosmosd-demo", "cosmosd.toml")
    for _ in range(100):
        if os.path.exists(cfg):
            try:
                if req(port, "GET", "/api/health")[0] == 200: break
            except OSError: pass
        time.sleep(0.1)
    demo.terminate(); demo.wait()
    text = open(cfg).read()
    text = re.sub(r"(?m)^listen = .*$", f'listen = "127.0.0.1:{port}"', text)
    text = text.replace("[camera]\n", f"[camera]\nliveview_settle_ms = {settle_ms}\n", 1)
    text = text.replace("[show]\n", "[show]\ncountdown_seconds = 0\n", 1)
    open(cfg, "w").write(text)
    pin = re.search(r'(?m)^host_pin = "([^"]+)"', text).group(1)
    p = subprocess.Popen([BIN, "run", "--config", cfg], stdout=subprocess.DEVNULL, stderr=open(os.environ["LOG"], "w") if "LOG" in os.environ else subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                s, h = req(port, "GET", "/api/health")
                if s == 200 and h["camera"]["state"] == "connected": break
            except OSError: pass
            time.sleep(0.1)
        s, b = req(port, "POST", "/api/session", body={"role": "host", "pin": pin}); assert s == 201, b
        tok = b["token"]
        s, g = req(port, "POST", "/api/guests", tok, {"name": "Ana", "email": "ana@example.org", "energy": "lunar",
               "element": "agua", "essence": "colibrí", "language": "es", "consent": True}); assert s == 201, g
        start = (datetime.now(timezone.utc) + timedelta(minutes=1)).isoformat(timespec="seconds")
        s, sh = req(port, "POST", "/api/shows", tok, {"start_time": start, "guest_ids": [g["id"]]}); assert s == 201, sh
        sid = sh["id"]
        for step in ("start", "pose"):
            s, b = req(port, "POST", f"/api/shows/{sid}/{step}", tok); assert s == 200, (step, s, b)
        # frame rate over 5 s
        v = Viewer(port, tok, stop_after=5.0); v.start(); v.join()
        fps = v.frames / (v.t_end - v.t0)
        def capture():
            t = time.perf_counter(); s, b = req(port, "POST", f"/api/shows/{sid}/capture", tok)
            assert s == 201, (s, b); return (time.perf_counter() - t) * 1000
        plain = [capture() for _ in range(N)]
        live = []
        for _ in range(N):
            v = Viewer(port, tok); v.start(); v.first.wait(10)
            time.sleep(0.3)
            live.append(capture()); v.join(10)
        return fps, plain, live
    finally:
        p.terminate(); p.wait(); shutil.rmtree(d, ignore_errors=True)


def fmt(xs):
    xs = sorted(xs)
    return f"median {statistics.median(xs):7.1f} ms  min {xs[0]:7.1f}  max {xs[-1]:7.1f}"


for settle in [int(x) for x in os.environ.get("SETTLE", "500,0").split(",")]:
    fps, plain, live = run(settle)
    print(f"settle {settle:3d} ms: live view {fps:5.2f} frames/s over 5 s (cap 10)")
    print(f"  capture, no live view:     {fmt(plain)}  (n={N})")
    print(f"  capture, live view running:{fmt(live)}  (n={N})")
