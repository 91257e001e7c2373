#!/usr/bin/env python3
# Plays the attacks that once stopped or froze the API against a running cosmosd and
# prints what happened: a huge Content-Length, a 200 MB header line (with the daemon's
# memory before and after), four clients dribbling bodies (with the host's health checks
# meanwhile), and 1,000 idle connections from one client (with the daemon's descriptors
# and threads). The regression tests are tests/it/door.rs; this is for figures.
#
#   cosmosd run --config cosmos.toml &   # listen on 127.0.0.1:PORT
#   python3 scripts/door-attacks.py 127.0.0.1 PORT $(pgrep -f 'cosmosd run')
import socket, sys, time, threading, os
host, port, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def hwm():
    for l in open(f'/proc/{pid}/status'):
        if l.startswith(('VmHWM', 'VmRSS')): print('   ', l.strip())
def req(raw, src=None, timeout=20):
    s = socket.socket()
    if src: s.bind((src, 0))
    s.settimeout(timeout); s.connect((host, port)); s.sendall(raw)
    out = b''
    try:
        while True:
            d = s.recv(65536)
            if not d: break
            out += d
    except Exception: pass
    s.close(); return out.split(b'\r\n', 1)[0].decode(errors='replace')
def health():
    t = time.time(); st = req(b'GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    return st, (time.time() - t) * 1000
print('1. Content-Length: 99999999999, no body, GET /api/health')
t=time.time(); print('   ', req(b'GET /api/health HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n'), f'{(time.time()-t)*1000:.1f} ms')
print('    alive:', os.path.exists(f'/proc/{pid}'), 'health', health())
print('2. one 200 MB header line'); hwm()
s = socket.socket(); s.connect((host, port)); s.settimeout(30)
s.sendall(b'GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: ')
sent = 0; chunk = b'a' * (1 << 20)
try:
    while sent < 200 << 20:
        s.sendall(chunk); sent += len(chunk)
except Exception as e: pass
try: print('    answer', s.recv(200).split(b'\r\n')[0], f'after {sent >> 20} MB sent')
except Exception as e: print('    ', e)
s.close(); hwm(); print('    health', health())
print('3. 4 slow bodies (1 byte / 2 s), host health meanwhile')
def drip():
    s = socket.socket(); s.connect((host, port)); s.settimeout(60)
    s.sendall(b'POST /api/guests HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{')
    t = time.time()
    try:
        while True:
            time.sleep(2); s.sendall(b' ')
    except Exception: pass
    try: print('    dripper answered', s.recv(100).split(b'\r\n')[0], f'after {time.time()-t:.1f} s')
    except Exception as e: print('    dripper', e, f'after {time.time()-t:.1f} s')
ts = [threading.Thread(target=drip) for _ in range(4)]
[t.start() for t in ts]; time.sleep(1)
print('    health while dripping', [health() for _ in range(3)])
[t.join() for t in ts]
print('4. 1000 idle connections from 127.0.0.2')
held = []; refused = 0
for i in range(1000):
    try:
        s = socket.socket(); s.bind(('127.0.0.2', 0)); s.connect((host, port)); held.append(s)
    except Exception: refused += 1
time.sleep(0.5)
admitted = 0; r503 = 0
for s in held:
    s.settimeout(0.05)
    try:
        d = s.recv(100)
        if d.startswith(b'HTTP/1.1 503'): r503 += 1
    except socket.timeout: admitted += 1
    except Exception: pass
print(f'    admitted (open, idle) {admitted}, answered 503 {r503}, connect failed {refused}')
print('    fds of the daemon:', len(os.listdir(f'/proc/{pid}/fd')), 'threads:', len(os.listdir(f'/proc/{pid}/task')))
print('    health from the box', health())
print('    from another client', req(b'GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', src='127.0.0.3'))
for s in held: s.close()
