#!/usr/bin/python3
"""Live view's end, measured through the real daemon's door: a keep-alive client (HTTP/1.1,
no `Connection` header) reads the stream to its closing boundary (the time limit, 5 s
here), then the time until the connection ends is printed. With the door's idle deadline
at 30 s, anything near 25 s means the connection waited for it.

    /usr/bin/python3 scripts/liveview-eof.py target/debug/cosmosd [runs]
"""
import json, os, socket, subprocess, sys, tempfile, time, http.client
BIN, N = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
d = tempfile.mkdtemp()
cfg = f'''[server]
listen = "127.0.0.1:{port}"
io_timeout_seconds = 30
[storage]
data_dir = "{d}/data"
min_free_mb = 1
[camera]
backend = "simulated"
liveview_max_seconds = 5
[lights]
backend = "simulated"
pins = [17, 27, 22, 23]
[mail]
transport = "file"
from = "COSMOS <cosmos@example.com>"
[auth]
host_pin = "111111"
kiosk_pin = "222222"
technician_password = "technician-pass"
show_control_token = "show-control-token-0123456789"
'''
open(f"{d}/c.toml", "w").write(cfg)
p = subprocess.Popen([BIN, "run", "--config", f"{d}/c.toml"], stderr=subprocess.DEVNULL)
try:
    for _ in range(100):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5); c.request("GET", "/api/health"); c.getresponse().read(); break
        except OSError: time.sleep(0.1)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("POST", "/api/session", body=json.dumps({"role": "host", "pin": "111111"}), headers={"content-type": "application/json"})
    tok = json.loads(c.getresponse().read())["token"]
    for i in range(N):
        k = socket.create_connection(("127.0.0.1", port)); k.settimeout(60)
        k.sendall(f"GET /api/camera/liveview HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\n\r\n".encode())
        buf = b""; t_end = None  # when the closing boundary had arrived
        while True:
            b = k.recv(65536)
            if not b: break
            buf += b
            if t_end is None and buf.endswith(b"--cosmosframe--\r\n"): t_end = time.perf_counter()
        t_eof = time.perf_counter()
        print(f"run {i+1}: closing boundary -> EOF {1000*(t_eof - t_end):.1f} ms")
        k.close()
finally:
    p.terminate(); p.wait()
