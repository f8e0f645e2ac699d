"""Raw messages kept forever: gzip-compressed, named by the SHA-256 of the raw bytes, fsync'd before the ledger
commit, so a message survives even if the mailbox is emptied later. Storing the same bytes twice is a no-op."""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from pathlib import Path


def sha256_hex(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


class Archive:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, digest: str) -> Path:
        # Two levels of fan-out keep directories small after years of mail.
        return self.root / digest[:2] / digest[2:4] / f"{digest}.eml.gz"

    def store(self, raw: bytes) -> Path:
        """Write ``raw`` durably and return its path; already-archived content is left as it is."""
        digest = sha256_hex(raw)
        path = self.path_for(digest)
        if path.exists():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".gz")
        try:
            with os.fdopen(fd, "wb") as handle:
                # mtime=0: the same bytes always give the same file.
                with gzip.GzipFile(fileobj=handle, mode="wb", mtime=0) as gz:
                    gz.write(raw)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)
        return path


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
