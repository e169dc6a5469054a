/* bench_echo_c: the minimal C echo MCP server that benches/echo_server.rs is measured against
 * (scripts/bench builds it with cc -O2 when a C compiler is there). Same protocol as
 * benches/echo_server.rs: it answers every line with an "id" by looking at the start of the
 * line only; a small tools/call gets {"content":[{"type":"text","text":"ok"}]}, ping {}, and
 * initialize a canned result; any other request -32601. (The 8 MiB `big` tool is Rust-only.)
 * One read and one write per buffer, no allocation per line: the floor for a stdio server. */
#include <string.h>
#include <unistd.h>

#define IN (1 << 20)
#define OUT (4 << 20)
#define HEAD 512

static char in[IN], out[OUT];
static size_t olen;

static void put(const char *s, size_t n) {
    memcpy(out + olen, s, n);
    olen += n;
}

static int flush_out(void) {
    size_t done = 0;
    while (done < olen) {
        ssize_t w = write(1, out + done, olen - done);
        if (w <= 0) return -1;
        done += (size_t)w;
    }
    olen = 0;
    return 0;
}

/* The value after the first `"key":` (up to ',' or '}'), or after `"key":"` up to '"'. */
static const char *find(const char *h, size_t n, const char *pat, size_t *len, int quoted) {
    size_t p = strlen(pat);
    for (size_t i = 0; i + p <= n; i++) {
        if (memcmp(h + i, pat, p) == 0) {
            const char *v = h + i + p;
            const char *end = h + n;
            const char *e = v;
            if (quoted)
                while (e < end && *e != '"') e++;
            else
                while (e < end && *e != ',' && *e != '}') e++;
            *len = (size_t)(e - v);
            return v;
        }
    }
    return 0;
}

static void answer(const char *line, size_t n) {
    size_t h = n < HEAD ? n : HEAD, idl, ml = 0;
    const char *id = find(line, h, "\"id\":", &idl, 0);
    if (!id) return;
    const char *m = find(line, h, "\"method\":\"", &ml, 1);
    put("{\"jsonrpc\":\"2.0\",\"id\":", 22);
    put(id, idl);
    if (m && ml == 10 && memcmp(m, "tools/call", 10) == 0) {
        static const char r[] = ",\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"ok\"}]}}\n";
        put(r, sizeof r - 1);
    } else if (m && ml == 4 && memcmp(m, "ping", 4) == 0) {
        put(",\"result\":{}}\n", 14);
    } else if (m && ml == 10 && memcmp(m, "initialize", 10) == 0) {
        static const char r[] =
            ",\"result\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{\"tools\":{}},"
            "\"serverInfo\":{\"name\":\"bench_echo_c\",\"version\":\"1\"}}}\n";
        put(r, sizeof r - 1);
    } else {
        static const char r[] = ",\"error\":{\"code\":-32601,\"message\":\"Method not found\"}}\n";
        put(r, sizeof r - 1);
    }
}

int main(void) {
    size_t have = 0;
    for (;;) {
        ssize_t r = read(0, in + have, IN - have);
        if (r <= 0) break;
        have += (size_t)r;
        size_t start = 0;
        for (;;) {
            char *nl = memchr(in + start, '\n', have - start);
            if (!nl) break;
            answer(in + start, (size_t)(nl - (in + start)));
            start = (size_t)(nl - in) + 1;
            if (olen > OUT - 4096 && flush_out() < 0) return 1;
        }
        memmove(in, in + start, have - start);
        have -= start;
        if (have == IN) have = 0; /* a line longer than the buffer: dropped */
        if (olen && flush_out() < 0) return 1;
    }
    return flush_out() < 0;
}
