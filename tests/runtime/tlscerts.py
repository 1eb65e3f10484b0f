"""Certificates for the TLS tests, made with the `openssl` command line into a directory:
a CA, a server certificate for 127.0.0.1 and localhost, a client certificate, an expired
client certificate, and more server certificates on demand (for rotation)."""
import datetime
import os
import subprocess


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, text=True)


class Certs:
    """make(dir) writes ca.pem/ca.key, server.pem/server.key, client.pem/client.key and
    expired.pem/expired.key (a client certificate whose validity ended a day ago), all
    signed by the CA (EC P-256 keys). Attributes hold the paths."""

    def __init__(self, d):
        self.dir = str(d)
        os.makedirs(self.dir, exist_ok=True)
        self.ca, self.ca_key = self.path("ca.pem"), self.path("ca.key")
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "30",
                 "-subj", "/CN=kmon test CA", "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.dir)
        self.server, self.server_key = self.issue("server", "127.0.0.1", server=True)
        self.client, self.client_key = self.issue("client", "kmon-agent")
        self.expired, self.expired_key = self.issue("expired", "kmon-expired",
                                                    start="-2d", end="-1d")

    def path(self, name):
        return os.path.join(self.dir, name)

    def issue(self, name, cn, server=False, start=None, end=None, ca=None, ips=()):
        """Write name.pem and name.key: a certificate for cn signed by the CA (or ca=(pem,
        key) of another), for a server (SANs 127.0.0.1 and localhost) or a client; start
        and end shift its validity ("-2d": two days ago; default now to 30 days on); ips
        are more addresses a server certificate names. Returns (cert path, key path)."""
        ca_pem, ca_key = ca or (self.ca, self.ca_key)
        ext = self.path(f"{name}.ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n")
            if server:
                f.write("extendedKeyUsage=serverAuth\n"
                        "subjectAltName=IP:127.0.0.1,DNS:localhost"
                        + "".join(f",IP:{ip}" for ip in ips) + "\n")
            else:
                f.write("extendedKeyUsage=clientAuth\n")
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}",
                 cwd=self.dir)
        if start or end:
            # openssl 3.0's x509 has no -not_before: a throw-away CA config does it.
            return self._issue_dated(name, ca_pem, ca_key, ext, start, end)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", ca_pem, "-CAkey", ca_key,
                 "-set_serial", str(int.from_bytes(os.urandom(8), "big")),
                 "-extfile", ext, "-out", f"{name}.pem", "-days", "30", cwd=self.dir)
        return self.path(f"{name}.pem"), self.path(f"{name}.key")

    def _issue_dated(self, name, ca_pem, ca_key, ext, start, end):
        def when(rel):
            days = int(rel.rstrip("d"))
            t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)
            return t.strftime("%Y%m%d%H%M%SZ")

        db = self.path(f"{name}.db")
        open(db, "w").close()
        conf = self.path(f"{name}.cnf")
        with open(conf, "w") as f:
            f.write(f"""[ca]
default_ca = c
[c]
database = {db}
new_certs_dir = {self.dir}
serial = {self.path(name + '.srl')}
default_md = sha256
policy = p
unique_subject = no
[p]
commonName = supplied
""")
        with open(self.path(f"{name}.srl"), "w") as f:
            f.write(os.urandom(8).hex() + "\n")
        _openssl("ca", "-batch", "-config", conf, "-cert", ca_pem, "-keyfile", ca_key,
                 "-in", f"{name}.csr", "-out", f"{name}.pem", "-extfile", ext,
                 "-startdate", when(start or "0d"), "-enddate", when(end or "30d"),
                 "-notext", cwd=self.dir)
        return self.path(f"{name}.pem"), self.path(f"{name}.key")


def serial_and_cn(pem_bytes_or_der):
    """(serial hex, subject CN) of a certificate given as PEM text or DER bytes."""
    if isinstance(pem_bytes_or_der, bytes) and not pem_bytes_or_der.startswith(b"-----"):
        form, data = "DER", pem_bytes_or_der
    else:
        form = "PEM"
        data = pem_bytes_or_der if isinstance(pem_bytes_or_der, bytes) else \
            pem_bytes_or_der.encode()
    out = subprocess.run(["openssl", "x509", "-inform", form, "-noout", "-serial", "-subject",
                          "-nameopt", "multiline"], input=data, capture_output=True,
                         check=True).stdout.decode()
    serial = cn = None
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("serial="):
            serial = line.split("=", 1)[1]
        elif line.startswith("commonName"):
            cn = line.split("=", 1)[1].strip()
    return serial, cn
