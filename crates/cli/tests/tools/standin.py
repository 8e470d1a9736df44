"""A stand-in for the services a token is for, in the tests of
`proofkey credential-helper` and `proofkey curl` (tests/cli_tools.rs).

    python3 standin.py ISSUER REPO_ROOT [tls]

Prints "PORT n", then one line per request: "AUTH <scheme> <credential>".
Every path needs a token that ISSUER's /userinfo accepts, sent as
`Authorization: Bearer` or as the password of HTTP Basic:

* /v2/...         a Docker registry (the manifest of any image)
* /ps-check       says whether the token it got is on any command line or
                  in any environment on the machine ("clean" or "leak")
* anything else   git's smart HTTP over `git http-backend` on REPO_ROOT
"""

import base64
import glob
import hashlib
import http.server
import json
import os
import subprocess
import sys
import urllib.request

ISSUER, ROOT = sys.argv[1], sys.argv[2]
# With "tls": HTTPS with Debian's snakeoil certificate (the docker CLI
# reaches a registry over https even when told --insecure; it then skips
# the certificate check).
TLS = sys.argv[3:] == ["tls"]

MANIFEST = json.dumps({
    "schemaVersion": 2,
    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2,
               "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
    "layers": [],
}).encode()


def token_of(auth):
    scheme, _, cred = auth.partition(" ")
    if scheme.lower() == "bearer":
        return cred
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(cred).decode().partition(":")[2]
        except Exception:
            return None
    return None


def accepted(token):
    req = urllib.request.Request(ISSUER + "/userinfo", headers={"Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status == 200
    except Exception:
        return False


def leaked(token):
    for path in glob.glob("/proc/[0-9]*/cmdline") + glob.glob("/proc/[0-9]*/environ"):
        try:
            with open(path, "rb") as f:
                if token.encode() in f.read():
                    return path
        except OSError:
            pass
    out = subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True).stdout
    return "ps" if token.encode() in out else None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_one(self):
        auth = self.headers.get("Authorization", "")
        print("AUTH " + auth, flush=True)
        registry = self.path.startswith("/v2")
        token = token_of(auth)
        if not token or not accepted(token):
            realm = "registry" if registry else "git"
            headers = [("WWW-Authenticate", 'Basic realm="%s"' % realm)]
            if registry:
                headers.append(("Docker-Distribution-API-Version", "registry/2.0"))
            return self.reply(401, b"unauthorized\n", headers)
        if registry:
            api = ("Docker-Distribution-API-Version", "registry/2.0")
            if "/manifests/" in self.path:
                return self.reply(200, MANIFEST, [
                    api,
                    ("Content-Type", "application/vnd.docker.distribution.manifest.v2+json"),
                    ("Docker-Content-Digest", "sha256:" + hashlib.sha256(MANIFEST).hexdigest()),
                ])
            return self.reply(200, b"{}", [api, ("Content-Type", "application/json")])
        if self.path == "/ps-check":
            where = leaked(token)
            return self.reply(200, (("leak " + where) if where else "clean").encode())
        return self.git(token)

    def git(self, token):
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = dict(os.environ, GIT_PROJECT_ROOT=ROOT, GIT_HTTP_EXPORT_ALL="1",
                   PATH_INFO=path, QUERY_STRING=query, REQUEST_METHOD=self.command,
                   CONTENT_TYPE=self.headers.get("Content-Type", ""),
                   CONTENT_LENGTH=str(len(body)), REMOTE_USER="oauth2",
                   REMOTE_ADDR="127.0.0.1", GATEWAY_INTERFACE="CGI/1.1")
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
        head, _, rest = out.partition(b"\r\n\r\n")
        if not _:
            head, _, rest = out.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode().splitlines():
            k, _, v = line.partition(":")
            if k.lower() == "status":
                status = int(v.split()[0])
            elif k:
                headers.append((k, v.strip()))
        self.reply(status, rest, headers)

    do_GET = do_POST = do_HEAD = handle_one


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
if TLS:
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain("/etc/ssl/certs/ssl-cert-snakeoil.pem", "/etc/ssl/private/ssl-cert-snakeoil.key")
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
print("PORT %d" % server.server_address[1], flush=True)
server.serve_forever()
