# Captures a server's tools/list the way tests/corpus/servers/*.json were made:
#   python3 tests/corpus/capture.py OUT.json -- SERVER_CMD [ARGS...]
# (initialize, notifications/initialized, tools/list; dummy API keys in the environment,
# as the servers only need them to call their APIs, not to list their tools).
import json, subprocess, sys, os
# usage: cap.py OUT.json -- cmd args...
out = sys.argv[1]; cmd = sys.argv[3:]
env = dict(os.environ, BRAVE_API_KEY="x", GITHUB_PERSONAL_ACCESS_TOKEN="x", TODOIST_API_TOKEN="x")
p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, )
def send(m):
    p.stdin.write((json.dumps(m)+"\n").encode()); p.stdin.flush()
def recv(i):
    while True:
        line = p.stdout.readline()
        if not line: raise SystemExit("eof: " + p.stderr.read().decode()[:2000])
        m = json.loads(line)
        if m.get("id") == i: return m
send({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"capture","version":"0"}}})
init = recv(1)
send({"jsonrpc":"2.0","method":"notifications/initialized"})
send({"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}})
tl = recv(2)
p.kill()
json.dump({"serverInfo": init["result"].get("serverInfo"), "protocolVersion": init["result"].get("protocolVersion"), "tools": tl["result"]["tools"]}, open(out,"w"), indent=1)
print(out, [t["name"] for t in tl["result"]["tools"]])
