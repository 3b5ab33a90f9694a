"""Trusting the local CA where browsers and command-line tools look for roots: the
system's trust store (curl, OpenSSL, Python's ``ssl``) and the NSS databases that
Chromium and Firefox read on Linux. ``actionsd trust`` adds it, ``--uninstall`` removes
it; both only ever touch entries named after this CA's fingerprint."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

Echo = Callable[[str], None]


class TrustError(Exception):
    """The CA could not be added to (or removed from) a store the user asked for."""


@dataclass(frozen=True)
class SystemStore:
    """One Linux family's trust anchors: a folder of PEM files and the command that
    rebuilds the bundle from it."""

    family: str
    anchors: Path
    suffix: str
    refresh: tuple[str, ...]


# Checked in order; the first whose folder exists and whose command is installed wins.
SYSTEM_STORES = (
    SystemStore("Debian/Ubuntu", Path("/usr/local/share/ca-certificates"), ".crt",
                ("update-ca-certificates",)),
    SystemStore("Fedora/RHEL", Path("/etc/pki/ca-trust/source/anchors"), ".pem",
                ("update-ca-trust", "extract")),
    SystemStore("Arch", Path("/etc/ca-certificates/trust-source/anchors"), ".crt",
                ("trust", "extract-compat")),
    SystemStore("openSUSE", Path("/usr/share/pki/trust/anchors"), ".pem",
                ("update-ca-certificates",)),
)  # fmt: skip
NSS_PACKAGES = "libnss3-tools on Debian/Ubuntu, nss-tools on Fedora/RHEL, nss on Arch"


@dataclass(frozen=True)
class LocalCa:
    pem: Path
    fingerprint: str

    @classmethod
    def load(cls, pem: Path) -> LocalCa:
        cert = x509.load_pem_x509_certificate(pem.read_bytes())
        return cls(pem, cert.fingerprint(hashes.SHA256()).hex())

    @property
    def nickname(self) -> str:
        """The name of its entry in every store: one per CA, so that two data dirs'
        CAs can be trusted side by side and removed one at a time."""
        return f"actionsd local CA {self.fingerprint[:16]}"

    def anchor_path(self, store: SystemStore) -> Path:
        return store.anchors / f"actionsd-local-ca-{self.fingerprint[:16]}{store.suffix}"


def system_store() -> SystemStore | None:
    if not sys.platform.startswith("linux"):
        return None
    for store in SYSTEM_STORES:
        if store.anchors.is_dir() and shutil.which(store.refresh[0]):
            return store
    return None


def nss_databases(home: Path) -> list[Path]:
    """The NSS databases that exist under ``home``: the shared one Chromium uses (also
    Snap's), and every Firefox profile."""
    candidates = [
        home / ".pki" / "nssdb",
        home / "snap" / "chromium" / "current" / ".pki" / "nssdb",
    ]
    for profiles in (
        home / ".mozilla" / "firefox",
        home / "snap" / "firefox" / "common" / ".mozilla" / "firefox",
    ):
        if profiles.is_dir():
            candidates += sorted(p for p in profiles.iterdir() if p.is_dir())
    return [d for d in candidates if (d / "cert9.db").exists() or (d / "cert8.db").exists()]


def _nss_name(db: Path) -> str:
    # cert9.db is NSS's SQLite format; cert8.db the legacy Berkeley DB one.
    return f"sql:{db}" if (db / "cert9.db").exists() else f"dbm:{db}"


def _as_root(argv: list[str]) -> list[str]:
    """The system store is root's: ask sudo for it, as mkcert does, when not root."""
    if os.geteuid() == 0:
        return argv
    if shutil.which("sudo") is None:
        raise TrustError("the system trust store needs root: run this command as root")
    return ["sudo", "--", *argv]


def _run(argv: list[str], echo: Echo) -> None:
    echo("  $ " + " ".join(argv))
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise TrustError(f"{argv[0]} failed ({done.returncode}): {done.stderr.strip()}")


def _nss_has(db: Path, ca: LocalCa) -> bool:
    listed = subprocess.run(
        ["certutil", "-L", "-d", _nss_name(db), "-n", ca.nickname],
        capture_output=True,
        check=False,
    )
    return listed.returncode == 0


def install(ca: LocalCa, home: Path, echo: Echo) -> None:
    store = system_store()
    if store is None:
        echo(f"No system trust store this command knows here; add {ca.pem} to it by hand.")
    else:
        echo(f"Adding the CA to the system trust store ({store.family}):")
        anchor = ca.anchor_path(store)
        _run(_as_root(["install", "-m", "644", str(ca.pem), str(anchor)]), echo)
        _run(_as_root(list(store.refresh)), echo)
    if shutil.which("certutil") is None:
        echo(
            "certutil is missing, so Chromium and Firefox will not trust the CA yet: "
            f"install it ({NSS_PACKAGES}) and run this command again."
        )
        return
    shared = home / ".pki" / "nssdb"
    if not shared.exists():
        # Chromium makes this database on its first start; made now, it reads ours.
        shared.mkdir(parents=True, mode=0o700)
        _run(["certutil", "-N", "-d", f"sql:{shared}", "--empty-password"], echo)
    for db in nss_databases(home):
        echo(f"Adding the CA to the NSS database {db}:")
        _run(
            [
                "certutil",
                "-A",
                "-d",
                _nss_name(db),
                "-t",
                "C,,",
                "-n",
                ca.nickname,
                "-i",
                str(ca.pem),
            ],
            echo,
        )


def uninstall(ca: LocalCa, home: Path, echo: Echo) -> None:
    store = system_store()
    if store is not None and ca.anchor_path(store).exists():
        echo(f"Removing the CA from the system trust store ({store.family}):")
        _run(_as_root(["rm", "-f", str(ca.anchor_path(store))]), echo)
        _run(_as_root(list(store.refresh)), echo)
    if shutil.which("certutil") is None:
        echo(f"certutil is missing ({NSS_PACKAGES}): the browsers' databases were not checked.")
        return
    for db in nss_databases(home):
        if _nss_has(db, ca):
            echo(f"Removing the CA from the NSS database {db}:")
            _run(["certutil", "-D", "-d", _nss_name(db), "-n", ca.nickname], echo)
