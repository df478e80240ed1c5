#!/usr/bin/env python3
"""The benchmark behind bench/run: one machine, one run, one table.

Starts the Instagram emulator, instagram-auth serve (the release binary),
PHP-FPM with the legacy script, and one nginx in front of all of them; then
loads each in turn and prints a Markdown table (also written to --out).
bench/README.md explains the method.
"""

import argparse
import asyncio
import datetime
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
APP_ID = "1234567890123456"
APP_SECRET = "emulator-app-secret"
# The floors the feed's answers are set beside: as many bytes as feed.json, as an image copy, and none (a 304).
FEED_FLOORS = ("feed", "image", "empty", "pong")
# The answers instagram-auth gives from memory (besides the authorize page), each beside a floor of its size.
FROM_MEMORY = ("feed.json", "feed.json revalidated (304)", "an image copy", "ping")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, what, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise SystemExit(f"bench: {what} did not come up")


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def quotient(part, whole):
    """part / whole; NaN when nothing was measured (a run too short for the clock's ticks)."""
    return part / whole if whole else float("nan")


def percentile(values, fraction):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, int(round(fraction * len(ordered) + 0.5)) - 1))
    return ordered[index]


# --- memory -----------------------------------------------------------------

def proc_kib(pid, field, file="status"):
    try:
        with open(f"/proc/{pid}/{file}") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.append(int(entry))
            except OSError:
                pass
    return found


def memory(pids):
    """(RSS, PSS) in KiB summed over the processes: PSS shares shared pages out fairly."""
    return (sum(proc_kib(p, "VmRSS") for p in pids), sum(proc_kib(p, "Pss", "smaps_rollup") for p in pids))


class Sampler:
    """Samples a server's memory every 50 ms while a scenario runs; keeps the peak."""

    def __init__(self, pids_of):
        self.pids_of = pids_of
        self.peak = (0, 0)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            rss, pss = memory(self.pids_of())
            self.peak = (max(self.peak[0], rss), max(self.peak[1], pss))
            self.stop.wait(0.05)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


# --- cost: a server's own CPU time, context switches and system calls --------

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids):
    """User + system CPU seconds of the processes (all their threads), from /proc/PID/stat."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / TICKS


def context_switches(pids):
    """(voluntary, involuntary) context switches of every thread of the processes."""
    voluntary = involuntary = 0
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            voluntary += proc_kib(f"{pid}/task/{task}", "voluntary_ctxt_switches")
            involuntary += proc_kib(f"{pid}/task/{task}", "nonvoluntary_ctxt_switches")
    return voluntary, involuntary


class Cost:
    """A server's own CPU seconds and context switches over a timed window; per request once `requests` is known.
    nginx and wrk are not counted: only the processes `pids` names."""

    def __init__(self, pids):
        self.pids = pids

    def __enter__(self):
        self.cpu, self.switches = cpu_seconds(self.pids), context_switches(self.pids)
        return self

    def __exit__(self, *exc):
        self.cpu = cpu_seconds(self.pids) - self.cpu
        after = context_switches(self.pids)
        self.switches = (after[0] - self.switches[0], after[1] - self.switches[1])

    def per_request(self, requests):
        requests = max(1, requests)
        return {"cpu_us": self.cpu * 1e6 / requests, "vcs": self.switches[0] / requests, "ivcs": self.switches[1] / requests}


def syscalls(pids, run):
    """System calls the processes make per request while `run()` (which returns its request count) runs, counted
    by `strace -c -f` attached to them; None without strace. strace slows the server: only the count is kept."""
    strace = shutil.which("strace")
    if not strace or not pids:
        return None
    out = os.path.join(tempfile.mkdtemp(prefix="strace-"), "count")
    tracer = subprocess.Popen([strace, "-c", "-f", "-o", out, *(a for pid in pids for a in ("-p", str(pid)))],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    requests = run()
    tracer.send_signal(signal.SIGINT)
    tracer.wait(30)
    try:
        with open(out) as f:
            total = next((line for line in f if line.rstrip().endswith("total")), None)
    except OSError:
        return None
    if total is None:
        return None
    # "100.00    0.123456           1    123456       789            total": the calls column follows usecs/call.
    numbers = total.split()
    return int(numbers[3]) / max(1, requests)


# --- a small HTTP/1.1 client for the callback visitors ----------------------

class Connection:
    def __init__(self, port):
        self.port = port
        self.reader = self.writer = None

    async def request(self, target, cookie=None, form=None):
        for attempt in (0, 1):
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            method = "POST" if form is not None else "GET"
            head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUser-Agent: instagram-auth-bench\r\n"
            if cookie:
                head += f"Cookie: {cookie}\r\n"
            if form is not None:
                head += f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(form)}\r\n\r\n{form}"
                self.writer.write(head.encode())
            else:
                self.writer.write((head + "\r\n").encode())
            try:
                return await self.read_response()
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if attempt:
                    raise

    async def read_response(self):
        status_line = await self.reader.readuntil(b"\r\n")
        status = int(status_line.split()[1])
        headers = []
        while True:
            line = await self.reader.readuntil(b"\r\n")
            if line == b"\r\n":
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name.strip().lower(), value.strip()))
        lookup = dict(headers)
        if lookup.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                body += await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        else:
            body = await self.reader.readexactly(int(lookup.get("content-length", "0")))
        if lookup.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body.decode("utf-8", "replace")

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


# --- the benchmark ----------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.workers = args.workers
        self.dir = tempfile.mkdtemp(prefix="instagram-auth-bench-")
        os.chmod(self.dir, 0o755)
        self.processes = []
        self.ports = {name: free_port() for name in ("emulator", "ours", "ours_keepalive", "php", "floor", "ceiling")
                      + tuple(f"floor_{size}" for size in FEED_FLOORS)}
        self.redirect_ours = f"http://127.0.0.1:{self.ports['ours']}/instagram/"
        self.redirect_php = f"http://127.0.0.1:{self.ports['php']}/legacy/index.php"
        self.emulator_url = f"http://127.0.0.1:{self.ports['emulator']}"
        self.rows = {}
        self.memory = {}
        # The C floors by name ("floor", "floor_feed", …), for their CPU time.
        self.floors = {}

    # processes

    def start(self, argv, name, env=None):
        log = open(os.path.join(self.dir, name + ".log"), "wb")
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.processes.append(process)
        return process

    def stop_all(self):
        for process in reversed(self.processes):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    def ours_environment(self):
        env = dict(os.environ)
        env.update({
            "INSTAGRAM_APP_ID": APP_ID,
            "INSTAGRAM_APP_SECRET": APP_SECRET,
            "INSTAGRAM_REDIRECT_URI": self.redirect_ours,
            "INSTAGRAM_OAUTH_BASE_URL": self.emulator_url,
            "INSTAGRAM_API_BASE_URL": self.emulator_url,
            "INSTAGRAM_GRAPH_BASE_URL": self.emulator_url,
            "INSTAGRAM_AUTH_DATABASE": os.path.join(self.dir, "accounts.sqlite3"),
            "INSTAGRAM_AUTH_STATE_SECRET": "bench-state-secret-0123456789abcdef",
            "INSTAGRAM_AUTH_ALLOWED_USERS": "*",
            # Every visitor of the benchmark comes from 127.0.0.1: no limit on token requests per address.
            "INSTAGRAM_AUTH_CALLBACK_LIMIT": "0",
        })
        return env

    def setup(self):
        a = self.args
        self.start([a.emulator, "--listen", f"127.0.0.1:{self.ports['emulator']}",
                    "--redirect-uri", self.redirect_ours, "--redirect-uri", self.redirect_php], "emulator")
        wait_for(lambda: port_open(self.ports["emulator"]), "the emulator")

        self.socket = os.path.join(self.dir, "instagram-auth.sock")
        self.ours = self.start([a.binary, "serve", "--socket", self.socket, "--socket-mode", "0666",
                                "--workers", str(self.workers), "--log-level", "warning"],
                               "instagram-auth", env=self.ours_environment())
        wait_for(lambda: os.path.exists(self.socket), "instagram-auth serve")

        # PHP-FPM: as many children as the responder has workers, always there (pm = static).
        www = os.path.join(self.dir, "www")
        os.makedirs(os.path.join(www, "legacy"))
        shutil.copy(os.path.join(HERE, "legacy", "index.php"), os.path.join(www, "legacy", "index.php"))
        with open(os.path.join(www, "legacy", "defines.php"), "w") as f:
            f.write("<?php\n"
                    f"define('INSTAGRAM_APP_ID', '{APP_ID}');\n"
                    f"define('INSTAGRAM_APP_SECRET', '{APP_SECRET}');\n"
                    f"define('INSTAGRAM_APP_REDIRECT_URI', '{self.redirect_php}');\n"
                    f"define('INSTAGRAM_BASE_URL', '{self.emulator_url}');\n")
        self.php_socket = os.path.join(self.dir, "php-fpm.sock")
        fpm_conf = os.path.join(self.dir, "php-fpm.conf")
        with open(fpm_conf, "w") as f:
            f.write(f"""[global]
pid = {self.dir}/php-fpm.pid
error_log = {self.dir}/php-fpm-error.log
daemonize = no
[www]
listen = {self.php_socket}
listen.mode = 0666
listen.backlog = 4096
pm = static
pm.max_children = {self.workers}
""")
        fpm = sorted(p for p in os.listdir("/usr/sbin") if re.fullmatch(r"php-fpm[0-9.]*", p))[-1]
        self.php = self.start([f"/usr/sbin/{fpm}", "-F", "-R", "-y", fpm_conf], "php-fpm")
        wait_for(lambda: os.path.exists(self.php_socket), "PHP-FPM")

        # The floor: a C libfcgi responder that answers a fixed page as long as our authorize page.
        self.floor_socket = os.path.join(self.dir, "floor.sock")
        self.floors["floor"] = self.start([a.floor, self.floor_socket, str(self.workers), str(self.page_bytes())], "fastcgi-floor")
        wait_for(lambda: os.path.exists(self.floor_socket), "the FastCGI floor")

        self.nginx_dir = os.path.join(self.dir, "nginx")
        os.makedirs(os.path.join(self.nginx_dir, "logs"))
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(self.nginx_conf(www))
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.start([nginx, "-c", conf, "-p", self.nginx_dir], "nginx")
        for name in ("ours", "ours_keepalive", "php", "floor", "ceiling"):
            wait_for(lambda: port_open(self.ports[name]), "nginx")

    def page_bytes(self):
        """The size of the authorize page's body, asked of the responder over FastCGI-free CGI mode."""
        env = {**self.ours_environment(), "GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "GET", "QUERY_STRING": ""}
        out = subprocess.run([self.args.binary], env=env, capture_output=True, check=True).stdout
        return len(out.split(b"\r\n\r\n", 1)[1])

    def shipped(self, example, port):
        """A shipped nginx example as http-level text on 127.0.0.1:`port`, as scripts/nginx-conf adapts it."""
        with open(os.path.join(ROOT, "nginx", example)) as f:
            text = f.read()
        text = (text.replace("unix:/run/instagram-auth/instagram-auth.sock", f"unix:{self.socket}")
                .replace("include fastcgi_params;", "include /etc/nginx/fastcgi_params;")
                .replace("listen 443 ssl;", f"listen 127.0.0.1:{port};")
                .replace("server_name example.com;", "server_name localhost;"))
        # Without the token-request limit (the benchmark's visitors all come from 127.0.0.1, and
        # INSTAGRAM_AUTH_CALLBACK_LIMIT=0 lifts the responder's) and the access log (off for PHP-FPM too).
        text = "\n".join(line for line in text.split("\n")
                         if "ssl_certificate" not in line and "limit_req" not in line and "access_log" not in line)
        if not re.search(r"^server \{", text, re.M):
            text = f"server {{\n    listen 127.0.0.1:{port};\n{text}\n}}"
        return text

    def nginx_conf(self, www):
        """The shipped nginx examples for ours; a common shared-hosting PHP block for PHP-FPM."""
        user = "user root;" if os.getuid() == 0 else ""
        d = self.nginx_dir
        floors = "".join(self.floor_server(size) for size in FEED_FLOORS)
        return f"""{user}
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/logs/error.log warn;
events {{ worker_connections 8192; }}
worker_rlimit_nofile 20000;
http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    fastcgi_temp_path {d}/fastcgi_temp;
    proxy_temp_path {d}/proxy_temp;
    uwsgi_temp_path {d}/uwsgi_temp;
    scgi_temp_path {d}/scgi_temp;
    default_type text/html;
{open(os.path.join(ROOT, "nginx", "instagram-auth-http.conf")).read()}
{self.shipped("instagram-auth.conf", self.ports['ours'])}
{self.shipped("instagram-auth-keepalive.conf", self.ports['ours_keepalive'])}
    server {{
        listen 127.0.0.1:{self.ports['php']};
        root {www};
        index index.php;
        location ~ \\.php$ {{
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
            fastcgi_pass unix:{self.php_socket};
            fastcgi_read_timeout 300s;
        }}
    }}
    server {{
        listen 127.0.0.1:{self.ports['floor']};
        location / {{
            include /etc/nginx/fastcgi_params;
            fastcgi_pass unix:{self.floor_socket};
        }}
    }}
    server {{
        listen 127.0.0.1:{self.ports['ceiling']};
        location / {{ return 200 "ok\\n"; }}
    }}
{floors}
}}
"""

    def floor_server(self, size):
        """A floor for one of the feed's answers: started once its size is known (`feed_scenarios`)."""
        return f"""
    server {{
        listen 127.0.0.1:{self.ports['floor_' + size]};
        location / {{
            include /etc/nginx/fastcgi_params;
            fastcgi_pass unix:{os.path.join(self.dir, 'floor-' + size + '.sock')};
        }}
    }}
"""

    # who is measured

    def pids(self, server):
        if server == "ours":
            return [self.ours.pid]
        if server == "php":
            return [self.php.pid] + children(self.php.pid)
        if server in self.floors:
            return [self.floors[server].pid]
        return []

    def emulator(self, endpoint, **values):
        data = urllib.parse.urlencode(values).encode()
        with urllib.request.urlopen(self.emulator_url + endpoint, data=data, timeout=60) as reply:
            return json.loads(reply.read())

    # the authorize page

    def page_url(self, target):
        return {"ours": f"http://127.0.0.1:{self.ports['ours']}/instagram/",
                "ours_keepalive": f"http://127.0.0.1:{self.ports['ours_keepalive']}/instagram/",
                "php": f"http://127.0.0.1:{self.ports['php']}/legacy/index.php",
                "floor": f"http://127.0.0.1:{self.ports['floor']}/",
                "ceiling": f"http://127.0.0.1:{self.ports['ceiling']}/"}[target]

    def check_page(self, target):
        with urllib.request.urlopen(self.page_url(target), timeout=10) as reply:
            body = reply.read().decode()
        marker = {"ours": "Authorize with Instagram", "ours_keepalive": "Authorize with Instagram",
                  "php": "Authorize w/ Instagram", "floor": "xxxx", "ceiling": "ok"}[target]
        if reply.status != 200 or marker not in body:
            raise SystemExit(f"bench: {target}'s page is not the authorize page: {reply.status} {body[:200]!r}")

    def wrk(self, target, connections, seconds, headers=()):
        """wrk on `target` (a site's page, or a URL)."""
        url = target if target.startswith("http") else self.page_url(target)
        options = [option for header in headers for option in ("-H", header)]
        out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", *options, url],
                             capture_output=True, text=True, check=True).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        requests = int(re.search(r"(\d+) requests in", out).group(1))
        latency = {}
        for label in ("50%", "99%"):
            value, unit = re.search(re.escape(label) + r"\s+([\d.]+)(us|ms|s)\b", out).groups()
            latency[label] = float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
        failed = (int(errors.group(1)) if errors else 0) + (sum(map(int, socket_errors.groups())) if socket_errors else 0)
        return {"rps": rps, "requests": requests, "p50": latency["50%"], "p99": latency["99%"], "errors": failed}

    def measured(self, target, connections, seconds, server, headers=()):
        """wrk on `target` with `server`'s memory, CPU time and context switches measured over the run; then, in a
        full run, a short separate run under strace for its system calls per request."""
        pids = self.pids(server)
        with Sampler(lambda: self.pids(server)) as sampler, Cost(pids) as cost:
            result = self.wrk(target, connections, seconds, headers)
        result["peak"] = sampler.peak
        result.update(cost.per_request(result["requests"]))
        if not self.quick and pids:
            result["syscalls"] = syscalls(pids, lambda: self.wrk(target, connections, 2, headers)["requests"])
        return result

    def page_scenarios(self):
        seconds = 2 if self.quick else 10
        for target in ("ceiling", "floor", "ours", "ours_keepalive", "php"):
            self.check_page(target)
            self.wrk(target, 16, 1)  # warm up
            for connections in (16, 64):
                server = "php" if target == "php" else "ours" if target.startswith("ours") else target
                result = self.measured(target, connections, seconds, server)
                self.rows[("page", target, connections)] = result
                print(f"  page {target:15} c{connections:<3} {result['rps']:9.0f} req/s  "
                      f"p50 {result['p50']:.2f} ms  p99 {result['p99']:.2f} ms  errors {result['errors']}  "
                      f"CPU {result['cpu_us']:.1f} µs/request", flush=True)

    # the feed

    async def connect(self):
        """One account connected through the page, as a visitor does; its first feed fetch starts."""
        code = self.emulator("/_emulator/issue-codes", count=1, redirect_uri=self.redirect_ours, scope="instagram_business_basic")["codes"][0]
        connection = Connection(self.ports["ours"])
        try:
            _, headers, body = await connection.request("/instagram/")
            cookie = next(v.split(";")[0] for k, v in headers if k == "set-cookie")
            state = re.search(r"state=([^&\"]+)", body).group(1)
            status, headers, _ = await connection.request(f"/instagram/?code={code}&state={state}", cookie)
            if status != 303:
                raise SystemExit(f"bench: connecting an account answered {status}")
        finally:
            connection.close()

    def feed_scenarios(self):
        """feed.json, its 304 and an image copy, each beside a floor answering as many bytes; then feed.json
        while Instagram hangs, with the copy old, so every visit would start a fetch if visits waited."""
        seconds = 2 if self.quick else 10
        asyncio.run(self.connect())
        feed_url = f"http://127.0.0.1:{self.ports['ours']}/instagram/feed.json"
        with urllib.request.urlopen(feed_url, timeout=60) as reply:
            feed = reply.read()
            etag = reply.headers["ETag"]
        image_url = next(item["media_url"] for item in json.loads(feed)["data"] if "/instagram/media/" in item.get("media_url", ""))
        with urllib.request.urlopen(image_url, timeout=10) as reply:
            image = reply.read()
        sizes = {"feed": len(feed), "image": len(image), "empty": 0, "pong": len(b"pong\n")}
        for size in FEED_FLOORS:
            socket_path = os.path.join(self.dir, f"floor-{size}.sock")
            self.floors["floor_" + size] = self.start([self.args.floor, socket_path, str(self.workers), str(sizes[size])], f"fastcgi-floor-{size}")
            wait_for(lambda: os.path.exists(socket_path), "the FastCGI floor")
        cases = [("feed.json", feed_url, (), "floor_feed"),
                 ("feed.json revalidated (304)", feed_url, (f"If-None-Match: {etag}",), "floor_empty"),
                 ("an image copy", image_url, (), "floor_image"),
                 ("ping", f"http://127.0.0.1:{self.ports['ours']}/instagram/ping", (), "floor_pong")]
        for name, url, headers, floor in cases:
            floor_url = f"http://127.0.0.1:{self.ports[floor]}/"
            for target, label in ((url, "ours"), (floor_url, "floor")):
                self.wrk(target, 16, 1, headers)  # warm up
                result = self.measured(target, 16, seconds, "ours" if label == "ours" else floor, headers)
                self.rows[("feed", name, label)] = result
                print(f"  {name:28} {label:5} {result['rps']:9.0f} req/s  p50 {result['p50']:.2f} ms  "
                      f"p99 {result['p99']:.2f} ms  errors {result['errors']}  CPU {result['cpu_us']:.1f} µs/request", flush=True)
        # The copy an hour old, Instagram hanging: the first visit starts a fetch that hangs; every visit is answered.
        with sqlite3.connect(os.path.join(self.dir, "accounts.sqlite3")) as db:
            db.execute("UPDATE feed SET fetched_at = fetched_at - 3600, attempted_at = attempted_at - 3600")
        self.emulator("/_emulator/fault", mode="hang", path="/me/media")
        result = self.wrk(feed_url, 16, seconds)
        self.emulator("/_emulator/fault", mode="none")
        self.rows[("feed", "feed.json, Instagram hanging", "ours")] = result
        print(f"  feed.json, Instagram hanging     {result['rps']:9.0f} req/s  p50 {result['p50']:.2f} ms  "
              f"p99 {result['p99']:.2f} ms  errors {result['errors']}", flush=True)

    # the callback

    async def callbacks(self, target, visitors, delay_ms, seconds, burst):
        """`visitors` browsers, each returning from Instagram with a fresh code again and again for
        `seconds`. Measured: the callback (the request that carries the code, from asking to the last byte
        of the answer) and, for instagram-auth, until the result page its 303 leads to has arrived.
        With `burst` every visitor starts at once; otherwise their starts are spread over one delay,
        as visitors who come back at their own moments."""
        ours = target == "ours"
        per_visitor = int(seconds * 1000 / delay_ms) + 3
        codes = self.emulator("/_emulator/issue-codes", count=visitors * per_visitor,
                              redirect_uri=self.redirect_ours if ours else self.redirect_php,
                              scope="instagram_business_basic" if ours else "user_profile,user_media")["codes"]
        port = self.ports["ours" if ours else "php"]
        path = "/instagram/" if ours else "/legacy/index.php"
        callback, shown, failures = [], [], []
        start = time.perf_counter()
        deadline = start + seconds

        async def visitor(index):
            connection = Connection(port)
            if not burst:
                await asyncio.sleep(delay_ms / 1000 * index / visitors)
            try:
                while time.perf_counter() < deadline:
                    code = codes.pop()
                    cookie, state = None, ""
                    if ours:
                        status, headers, body = await connection.request(path)
                        cookie = next(v.split(";")[0] for k, v in headers if k == "set-cookie")
                        state = "&state=" + re.search(r"state=([^&\"]+)", body).group(1)
                    began = time.perf_counter()
                    status, headers, body = await connection.request(f"{path}?code={code}{state}", cookie)
                    answered = time.perf_counter()
                    if ours and status == 303:
                        status, headers, body = await connection.request(dict(headers)["location"], cookie)
                    elapsed = time.perf_counter() - began
                    marker = "Instagram account connected" if ours else "[access_token]"
                    if status == 200 and marker in body:
                        callback.append(answered - began)
                        shown.append(elapsed)
                    else:
                        failures.append(f"{status} {body[:120]!r}")
            finally:
                connection.close()

        await asyncio.gather(*(visitor(index) for index in range(visitors)))
        finished = time.perf_counter() - start
        return callback, shown, failures, finished

    async def instagram_latency(self, delay_ms):
        """Instagram's part of a callback, as a client on this machine sees the emulator: a code exchange
        with the delay on (median of 16, one after another on one connection), then a profile lookup right
        after it (instagram-auth's long-lived exchange runs beside the lookup)."""
        self.emulator("/_emulator/fault", mode="slow", delay_ms=delay_ms, path="/oauth/access_token")
        codes = self.emulator("/_emulator/issue-codes", count=16, redirect_uri=self.redirect_ours,
                              scope="instagram_business_basic")["codes"]
        exchange, profile = [], []

        async def client(codes):
            connection = Connection(self.ports["emulator"])
            try:
                for code in codes:
                    form = urllib.parse.urlencode({"client_id": APP_ID, "client_secret": APP_SECRET, "grant_type": "authorization_code",
                                                   "redirect_uri": self.redirect_ours, "code": code})
                    began = time.perf_counter()
                    status, _, body = await connection.request("/oauth/access_token", form=form)
                    exchange.append(time.perf_counter() - began)
                    token = json.loads(body)["data"][0]["access_token"]
                    began = time.perf_counter()
                    await connection.request(f"/me?fields=user_id,username&access_token={token}")
                    profile.append(time.perf_counter() - began)
            finally:
                connection.close()

        # Four clients at a time, spread like the visitors, so this takes four delays.
        await asyncio.gather(*(client(codes[i::4]) for i in range(4)))
        return statistics.median(exchange) * 1000, statistics.median(profile) * 1000

    def callback_scenarios(self):
        seconds = 2 if self.quick else 10
        self.base = {}
        for delay in (200, 1000):
            self.base[delay] = asyncio.run(self.instagram_latency(delay))
            print(f"  with a {delay} ms delay the emulator answers a code exchange in {self.base[delay][0]:.2f} ms "
                  f"and a profile lookup in {self.base[delay][1]:.2f} ms", flush=True)
            for visitors in (16, 256):
                for target in ("ours", "php"):
                    with Sampler(lambda: self.pids(target)) as sampler:
                        callback, shown, failures, elapsed = asyncio.run(
                            self.callbacks(target, visitors, delay, seconds, burst=visitors == 256))
                    ms = [x * 1000 for x in callback]
                    # Instagram's part: the delayed exchange, then (instagram-auth only) the lookups beside each other.
                    exchange, lookup = self.base[delay]
                    instagram = exchange + (lookup if target == "ours" else 0)
                    result = {"rate": len(ms) / elapsed, "done": len(ms), "failed": len(failures),
                              "p50": percentile(ms, 0.5), "p99": percentile(ms, 0.99), "max": max(ms, default=float("nan")),
                              "shown_p50": percentile([x * 1000 for x in shown], 0.5),
                              "shown_max": max((x * 1000 for x in shown), default=float("nan")),
                              "instagram": instagram, "overhead": percentile(ms, 0.5) - instagram, "peak": sampler.peak}
                    self.rows[("callback", target, visitors, delay)] = result
                    print(f"  callback {target:5} {visitors:3} visitors, Instagram {delay:4} ms: "
                          f"{result['rate']:7.1f}/s  p50 {result['p50']:.1f} ms  p99 {result['p99']:.1f} ms  "
                          f"max {result['max']:.1f} ms  result shown p50 {result['shown_p50']:.1f} ms  failed {result['failed']}", flush=True)
                    if failures:
                        print("    first failure:", failures[0], flush=True)
        self.emulator("/_emulator/fault", mode="none")

    # CGI: one request per process

    def cgi(self):
        runs = 5 if self.quick else 50
        common = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "GET",
                  "QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
                  "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1"}
        ours_env = {**self.ours_environment(), **common, "SCRIPT_NAME": "/instagram/", "REQUEST_URI": "/instagram/",
                    "INSTAGRAM_AUTH_DATABASE": os.path.join(self.dir, "cgi.sqlite3")}
        script = os.path.join(self.dir, "www", "legacy", "index.php")
        php_env = {**common, "SCRIPT_NAME": "/legacy/index.php", "REQUEST_URI": "/legacy/index.php",
                   "SCRIPT_FILENAME": script, "REDIRECT_STATUS": "200"}
        commands = {"ours": ([self.args.binary], ours_env, b"Authorize with Instagram"),
                    "php": ([shutil.which("php-cgi") or "/usr/bin/php-cgi"], php_env, b"Authorize w/ Instagram")}
        times = {name: [] for name in commands}
        for index in range(runs + 3):
            for name, (argv, env, marker) in commands.items():
                began = time.perf_counter()
                done = subprocess.run(argv, env=env, capture_output=True)
                elapsed = (time.perf_counter() - began) * 1000
                if done.returncode != 0 or marker not in done.stdout:
                    raise SystemExit(f"bench: CGI {name} failed: {done.returncode} {done.stdout[:200]!r} {done.stderr[:200]!r}")
                if index >= 3:  # the first runs fill the page cache
                    times[name].append(elapsed)
        for name, values in times.items():
            self.rows[("cgi", name)] = {"p50": statistics.median(values), "min": min(values), "runs": len(values)}
            print(f"  CGI {name:4} median {statistics.median(values):.2f} ms over {len(values)} runs", flush=True)

    def run(self):
        try:
            self.setup()
            for target in ("ours", "php"):
                self.check_page(target)
            time.sleep(1)
            self.memory["ours", "idle"] = memory(self.pids("ours"))
            self.memory["php", "idle"] = memory(self.pids("php"))
            print("Authorize page (wrk, 1 thread):", flush=True)
            self.page_scenarios()
            print("Callback (visitors returning from Instagram with a code):", flush=True)
            self.callback_scenarios()
            print("Feed (wrk, 1 thread, 16 connections):", flush=True)
            self.feed_scenarios()
            print("CGI (one process per request):", flush=True)
            self.cgi()
        finally:
            self.stop_all()
        return self.report()

    # the table

    def report(self):
        r, m = self.rows, self.memory
        lines = []
        add = lines.append
        tools = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip().replace("nginx version: ", "")
        php = subprocess.run(["php-cgi", "-v"], capture_output=True, text=True).stdout.split("\n")[0].split(" (")[0]
        cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
        commit = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip()
        add(f"Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} × {cpu}; "
            f"{tools}, {php}; instagram-auth {commit or '?'} with {self.workers} workers, PHP-FPM with {self.workers} children"
            + ("; **quick run: the numbers mean little**" if self.quick else "") + ".")
        add("")
        add("### Authorize page (nginx in front; wrk, 1 thread)")
        add("")
        add("| server | connections | requests/s | p50 ms | p99 ms | errors | × PHP-FPM | of the FastCGI floor | of nginx's ceiling |")
        add("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        names = {"ours": "instagram-auth", "ours_keepalive": "instagram-auth, fastcgi_keep_conn",
                 "php": "PHP-FPM, legacy script", "floor": "FastCGI floor (C, libfcgi, fixed page)",
                 "ceiling": "nginx `return 200`"}
        for target in ("ours", "ours_keepalive", "php", "floor", "ceiling"):
            for c in (16, 64):
                row = r["page", target, c]
                ratio = row["rps"] / r["page", "php", c]["rps"]
                floor = row["rps"] / r["page", "floor", c]["rps"]
                ceiling = row["rps"] / r["page", "ceiling", c]["rps"]
                add(f"| {names[target]} | {c} | {row['rps']:,.0f} | {row['p50']:.2f} | {row['p99']:.2f} | {row['errors']} "
                    f"| {ratio:.2f} | {floor:.0%} | {ceiling:.0%} |")
        add("")
        add("### Callback (a visitor returns with a code; the emulator answers the token request after a delay)")
        add("")
        add("Callback: from asking for the URL with the code to the last byte of the answer (instagram-auth answers "
            "303 to a result page; the legacy script shows the token itself). Result shown: until that result page "
            "has arrived too. 16 visitors come back at moments spread over one delay; 256 come back all at once. "
            "Instagram's part: the emulator's code exchange with the delay, as a client here sees it "
            f"({self.base[200][0]:.2f} ms and {self.base[1000][0]:.2f} ms), plus for instagram-auth a profile lookup "
            f"({self.base[200][1]:.2f} ms; the long-lived exchange runs beside it). Overhead: callback p50 minus Instagram's part.")
        add("")
        add("| server | Instagram delay | visitors | exchanges/s | callback p50 ms | p99 ms | max ms | result shown p50 ms | max ms | overhead p50 ms | failed |")
        add("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for delay in (200, 1000):
            for visitors in (16, 256):
                for target in ("ours", "php"):
                    row = r["callback", target, visitors, delay]
                    shown = (f"{row['shown_p50']:.1f} | {row['shown_max']:.1f}" if target == "ours" else "– | –")
                    add(f"| {names[target]} | {delay} ms | {visitors} | {row['rate']:.1f} | {row['p50']:.1f} | {row['p99']:.1f} "
                        f"| {row['max']:.1f} | {shown} | {row['overhead']:.1f} | {row['failed']} |")
        add("")
        add("### The feed (nginx in front; wrk, 1 thread, 16 connections)")
        add("")
        add("Each of instagram-auth's answers beside the FastCGI floor answering as many bytes (0 for the 304). "
            "The last row: the copy an hour old and Instagram hanging, so that a visit waiting on a fetch would show.")
        add("")
        add("| answer | server | requests/s | p50 ms | p99 ms | errors | of the floor |")
        add("|---|---|---:|---:|---:|---:|---:|")
        for name in FROM_MEMORY:
            ours, floor = r["feed", name, "ours"], r["feed", name, "floor"]
            add(f"| {name} | instagram-auth | {ours['rps']:,.0f} | {ours['p50']:.2f} | {ours['p99']:.2f} | {ours['errors']} "
                f"| {ours['rps'] / floor['rps']:.0%} |")
            add(f"| {name} | FastCGI floor, same size | {floor['rps']:,.0f} | {floor['p50']:.2f} | {floor['p99']:.2f} | {floor['errors']} | |")
        hanging = r["feed", "feed.json, Instagram hanging", "ours"]
        add(f"| feed.json, Instagram hanging | instagram-auth | {hanging['rps']:,.0f} | {hanging['p50']:.2f} | {hanging['p99']:.2f} "
            f"| {hanging['errors']} | |")
        add("")
        add("### Cost per request (the server's own processes only: nginx and wrk are not counted)")
        add("")
        add("CPU: user + system time of the server's processes over the timed run (/proc/PID/stat), per request. "
            "Context switches: voluntary and involuntary, summed over every thread (/proc/PID/task/*/status). "
            "System calls: `strace -c -f` attached for a separate 2 s run (full runs only; strace slows the server, "
            "so only the count is kept). The floor: the C libfcgi responder answering as many bytes.")
        add("")
        add("| answer | server | connections | CPU µs/request | × floor | × PHP-FPM | voluntary switches | involuntary switches | system calls |")
        add("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        def cost(row, floor, php=None):
            calls = row.get("syscalls")
            return (f"{row['cpu_us']:.1f} | {quotient(row['cpu_us'], floor['cpu_us']):.2f} | "
                    + (f"{quotient(row['cpu_us'], php['cpu_us']):.2f}" if php else "") + f" | {row['vcs']:.2f} | {row['ivcs']:.2f} | "
                    + (f"{calls:.1f}" if calls is not None else "–") + " |")
        for target in ("ours", "ours_keepalive", "php", "floor"):
            for c in (16, 64):
                row = r["page", target, c]
                add(f"| authorize page | {names[target]} | {c} | " + cost(row, r["page", "floor", c], r["page", "php", c]))
        for name in FROM_MEMORY:
            for label in ("ours", "floor"):
                row = r["feed", name, label]
                server = "instagram-auth" if label == "ours" else "FastCGI floor, same size"
                add(f"| {name} | {server} | 16 | " + cost(row, r["feed", name, "floor"]))
        add("")
        add("### Memory (RSS; PSS counts pages shared between processes once)")
        add("")
        add("| server | idle RSS MiB | idle PSS MiB | peak RSS MiB, page at 64 | peak RSS MiB, 256 callbacks | peak PSS MiB, 256 callbacks |")
        add("|---|---:|---:|---:|---:|---:|")
        for target in ("ours", "php"):
            idle = m[target, "idle"]
            page = r["page", target, 64]["peak"]
            callbacks = max((r["callback", target, 256, d]["peak"] for d in (200, 1000)), key=lambda p: p[0])
            add(f"| {names[target]}{' (master + children)' if target == 'php' else ''} | {idle[0] / 1024:.1f} | {idle[1] / 1024:.1f} "
                f"| {page[0] / 1024:.1f} | {callbacks[0] / 1024:.1f} | {callbacks[1] / 1024:.1f} |")
        add("")
        add("### CGI (one cold process per request, run directly as a web server would; page cache warm)")
        add("")
        add("| program | median ms | fastest ms | runs |")
        add("|---|---:|---:|---:|")
        add(f"| instagram-auth (release binary) | {r['cgi', 'ours']['p50']:.2f} | {r['cgi', 'ours']['min']:.2f} | {r['cgi', 'ours']['runs']} |")
        add(f"| php-cgi, legacy script | {r['cgi', 'php']['p50']:.2f} | {r['cgi', 'php']['min']:.2f} | {r['cgi', 'php']['runs']} |")
        add("")
        add("### Targets")
        add("")
        targets = self.targets()
        add("| target | measured | met |")
        add("|---|---|---|")
        for name, measured, met in targets:
            add(f"| {name} | {measured} | {'yes' if met else '**no**'} |")
        table = "\n".join(lines) + "\n"
        print()
        print(table)
        if self.args.out:
            with open(self.args.out, "w") as f:
                f.write("# Latest benchmark run\n\nWritten by `bench/run`; bench/README.md has the method.\n\n" + table)
        failed = [r for r in self.rows.values() if r.get("errors") or r.get("failed")]
        return 1 if failed else 0

    def targets(self):
        r, m = self.rows, self.memory
        out = []
        for c in (16, 64):
            plain = r["page", "ours", c]["rps"] / r["page", "php", c]["rps"]
            kept = r["page", "ours_keepalive", c]["rps"] / r["page", "php", c]["rps"]
            floor = r["page", "floor", c]["rps"] / r["page", "php", c]["rps"]
            out.append((f"authorize page ≥ 2.0× PHP-FPM's requests/s, {c} connections",
                        f"{plain:.2f}×; with fastcgi_keep_conn {kept:.2f}× (the FastCGI floor: {floor:.2f}×)", max(plain, kept) >= 2.0))
        idle = (m["ours", "idle"][0], m["php", "idle"][0])
        page = (r["page", "ours", 64]["peak"][0], r["page", "php", 64]["peak"][0])
        burst = (max(r["callback", "ours", 256, d]["peak"][0] for d in (200, 1000)),
                 max(r["callback", "php", 256, d]["peak"][0] for d in (200, 1000)))
        for label, (ours, php) in (("idle", idle), ("authorize page at 64 connections", page), ("256 callbacks at once", burst)):
            out.append((f"RSS ≤ ⅓ of the PHP-FPM pool's, {label}", f"{ours / 1024:.1f} MiB vs {php / 1024:.1f} MiB ({ours / php:.2f})",
                        ours * 3 <= php))
        row = r["callback", "ours", 256, 1000]
        out.append(("256 concurrent callbacks against a 1 s Instagram all finish within 1.5 s",
                    f"slowest callback {row['max']:.0f} ms (with its result page {row['shown_max']:.0f} ms), {row['failed']} failed",
                    row["max"] <= 1500 and row["failed"] == 0))
        worst = max(r["callback", "ours", 16, d]["overhead"] for d in (200, 1000))
        out.append(("callback latency minus Instagram's ≤ 2 ms at the median (16 visitors, both delays)",
                    f"at most {worst:.2f} ms", worst <= 2))
        for target, label in (("ours", ""), ("ours_keepalive", ", with fastcgi_keep_conn")):
            worst = max(quotient(r["page", target, c]["cpu_us"], r["page", "floor", c]["cpu_us"]) for c in (16, 64))
            out.append((f"authorize page: CPU per request ≤ 1.3× the FastCGI floor's{label}", f"{worst:.2f}× at most", worst <= 1.3))
            worst = max(quotient(r["page", target, c]["cpu_us"], r["page", "php", c]["cpu_us"]) for c in (16, 64))
            out.append((f"authorize page: CPU per request ≤ 0.5× PHP-FPM's{label}", f"{worst:.2f}× at most", worst <= 0.5))
        for name in FROM_MEMORY:
            times = quotient(r["feed", name, "ours"]["cpu_us"], r["feed", name, "floor"]["cpu_us"])
            out.append((f"{name}: CPU per request ≤ 1.3× the FastCGI floor's", f"{times:.2f}×", times <= 1.3))
        for name in FROM_MEMORY:
            share = r["feed", name, "ours"]["rps"] / r["feed", name, "floor"]["rps"]
            out.append((f"{name} ≥ 0.9× the requests/s of the FastCGI floor answering as many bytes", f"{share:.2f}×", share >= 0.9))
        for target, label in (("ours", ""), ("ours_keepalive", ", with fastcgi_keep_conn")):
            worst = min(r["page", target, c]["rps"] / r["page", "floor", c]["rps"] for c in (16, 64))
            out.append((f"authorize page ≥ 0.95× the FastCGI floor's requests/s{label}", f"{worst:.2f}× at least", worst >= 0.95))
        worst = max(r["callback", "ours", 16, d]["overhead"] for d in (200, 1000))
        out.append(("callback latency minus Instagram's ≤ 1.0 ms at the median (16 visitors, both delays)", f"at most {worst:.2f} ms",
                    worst <= 1.0))
        out.append(("idle RSS of the release binary ≤ 15 MiB", f"{idle[0] / 1024:.1f} MiB", idle[0] <= 15 * 1024))
        out.append(("RSS with 256 callbacks waiting on a slow Instagram ≤ 1.5× idle", f"{burst[0] / idle[0]:.2f}×", burst[0] <= 1.5 * idle[0]))
        size = os.path.getsize(self.args.binary) / 1e6
        out.append(("release binary ≤ 40 MB", f"{size:.1f} MB (bench/README.md: what each part costs)", size <= 40))
        healthy, hanging = r["feed", "feed.json", "ours"]["p99"], r["feed", "feed.json, Instagram hanging", "ours"]["p99"]
        out.append(("feed.json p99 with Instagram hanging as with Instagram healthy (within 1.5× or 1 ms)",
                    f"{hanging:.2f} ms vs {healthy:.2f} ms", hanging <= max(healthy * 1.5, healthy + 1)))
        cgi = r["cgi", "ours"]["p50"]
        out.append(("CGI cold request ≤ 10 ms median", f"{cgi:.1f} ms (php-cgi {r['cgi', 'php']['p50']:.1f} ms)", cgi <= 10))
        return out


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--binary", required=True, help="the instagram-auth binary to measure")
    parser.add_argument("--emulator", required=True, help="the instagram-emulator binary")
    parser.add_argument("--floor", required=True, help="the fastcgi-floor binary (bench/fastcgi-floor.c)")
    parser.add_argument("--workers", type=int, default=4, help="the responder's workers and PHP-FPM's children")
    parser.add_argument("--quick", action="store_true", help="every scenario briefly: a smoke run")
    parser.add_argument("--out", default=None,
                        help="where the table is written: bench/results.md by default, nowhere for --quick ('' for nowhere)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, configurations)")
    args = parser.parse_args()
    if args.out is None:
        args.out = "" if args.quick else os.path.join(HERE, "results.md")
    bench = Bench(args)
    try:
        code = bench.run()
    finally:
        if args.keep:
            print("bench: kept", bench.dir)
        else:
            shutil.rmtree(bench.dir, ignore_errors=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
