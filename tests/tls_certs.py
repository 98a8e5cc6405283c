"""Test certificates made with the `openssl` CLI: a CA, server certificates for localhost and
127.0.0.1, and client certificates, each with a serial the test chooses.

    ca = TestCA(tmp_path / "pki")
    cert, key = ca.server("server", serial=0x1001)
    client_cert, client_key = ca.client("client", serial=0x2001, common_name="orders-client")
"""
import os
import ssl
import subprocess


def _openssl(*args, cwd):
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{result.stderr.decode(errors='replace')}")


class TestCA:
    """A throw-away CA in `folder`; every certificate it issues is an EC P-256 key pair in PEM."""

    __test__ = False  # not a pytest class

    def __init__(self, folder, name="inlet-test-ca"):
        self.folder = str(folder)
        os.makedirs(self.folder, exist_ok=True)
        self.cert = os.path.join(self.folder, f"{name}.crt")
        self.key = os.path.join(self.folder, f"{name}.key")
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", self.key, "-out", self.cert, "-subj", f"/CN={name}", "-days", "30",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.folder)

    def _issue(self, name, serial, subject, extensions, days):
        cert = os.path.join(self.folder, f"{name}.crt")
        key = os.path.join(self.folder, f"{name}.key")
        csr = os.path.join(self.folder, f"{name}.csr")
        ext = os.path.join(self.folder, f"{name}.ext")
        with open(ext, "w") as f:
            f.write(extensions)
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", key, "-out", csr, "-subj", subject, cwd=self.folder)
        # A negative -days makes notAfter earlier than now: an expired certificate.
        _openssl("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
                 "-set_serial", hex(serial), "-days", str(days), "-extfile", ext, "-out", cert,
                 cwd=self.folder)
        return cert, key

    def server(self, name, serial, days=30):
        return self._issue(name, serial, "/CN=localhost",
                           "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                           "extendedKeyUsage=serverAuth\n", days)

    def client(self, name, serial, common_name="test-client", days=30):
        return self._issue(name, serial, f"/O=Inlet Tests/CN={common_name}",
                           "extendedKeyUsage=clientAuth\n", days)

    def client_context(self, cert=None, key=None):
        """A client context that trusts this CA (and presents `cert`, when given)."""
        context = ssl.create_default_context(cafile=self.cert)
        if cert:
            context.load_cert_chain(cert, key)
        return context


def serial_of(ssl_socket):
    """The serial of the certificate the server presented, as an int."""
    return int(ssl_socket.getpeercert()["serialNumber"], 16)
