# Sends three GETs in one write and counts the answers (pipelining), then one request with
# a 20 KB header and prints the status line it gets (431 wanted; 400, 200 or a closed
# connection otherwise). Usage: pipeline_check.py PORT
import socket, sys, time
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port))
req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 3
s.sendall(req)
s.settimeout(1.0)
data = b""
end = time.time() + 2
while time.time() < end:
    try:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    except socket.timeout:
        break
print(port, data.count(b"HTTP/1.1 200"))
big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"
s2 = socket.create_connection(("127.0.0.1", port)); s2.sendall(big); s2.settimeout(2)
try:
    print(port, "big header ->", s2.recv(200).split(b"\r\n")[0])
except Exception as e:
    print(port, "big header ->", e)
