"""A realistic mixed corpus for the transfer benchmarks, generated as a sandbox seed folder.

    make_mixed_seed(root, scale=1.0, seed=7) -> (seed folder, CorpusStats)

What it holds (scale 1.0), all real package files whose identity the emulators read from the
bytes (Maven coordinates from the path, npm name/version from `package.json`, PyPI from the
wheel's METADATA or the sdist's PKG-INFO):

- Maven: 30 artifacts x 5 versions; each version a jar and its POM, a third of them also a
  `-sources.jar` (2-3 files per version);
- npm: 20 packages x 5 versions, one tarball each (an npm version has exactly one);
- PyPI: 20 projects x 5 versions, a wheel and, for half of them, an sdist (1-2 files);
- generic (Nexus raw): 10 packages x 2 versions, 1-2 files each.

Sizes follow a log-normal distribution (median about 8 KB, most between 1 and 100 KB, like
the POMs, small libraries and tarballs of an internal repository), and about 1 % of the
artifacts are large (2-6 MB), the long tail. The random generator is seeded, so the same
arguments give the same corpus byte for byte.

`CorpusStats.floor_seconds` is the quota floor: the time the writes that cannot be avoided
take at CodeArtifact's quotas (100 writes/s; PublishPackageVersion 10/s on top). Unavoidable:
one PUT per Maven file plus one `maven-metadata.xml` PUT per artifact (the versions of an
artifact waiting for it together share one; before that write was shared, the floor counted one
per version: 771 writes, 7.71 s, for the default corpus), one PUT per npm version, one upload
per PyPI file, one PublishPackageVersion per generic asset.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import random
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

WRITE_QUOTA = 100.0
PUBLISH_QUOTA = 10.0


@dataclass
class CorpusStats:
    files: dict[str, int] = field(default_factory=dict)  # per format
    versions: dict[str, int] = field(default_factory=dict)
    packages: dict[str, int] = field(default_factory=dict)
    bytes: int = 0
    large: int = 0
    writes: int = 0  # unavoidable writes (account write quota)
    publishes: int = 0  # of which PublishPackageVersion (its own 10/s quota)

    @property
    def total_files(self) -> int:
        return sum(self.files.values())

    @property
    def floor_seconds(self) -> float:
        return max(self.writes / WRITE_QUOTA, self.publishes / PUBLISH_QUOTA)

    def summary(self) -> str:
        parts = ", ".join(f"{fmt} {self.versions[fmt]} versions/{self.files[fmt]} files"
                          for fmt in self.files)
        return (f"{self.total_files} files ({parts}); {self.bytes / 1e6:.1f} MB, {self.large} "
                f"large; {self.writes} unavoidable writes = {self.floor_seconds:.2f} s floor")


def _size(rng: random.Random) -> int:
    if rng.random() < 0.01:
        return rng.randint(2_000_000, 6_000_000)
    return int(min(500_000, max(300, rng.lognormvariate(9.0, 1.3))))


def _payload(rng: random.Random, size: int) -> bytes:
    # Random bytes do not compress: the size on the wire is the size in the table.
    return rng.randbytes(size)


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 2, 3, 4, 5))
            zf.writestr(info, data)
    return buf.getvalue()


def _tar_gz(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1704164645
            tf.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), mtime=0)


def _wheel(name: str, version: str, blob: bytes) -> bytes:
    mod = name.replace("-", "_")
    dist = f"{mod}-{version}"
    files = {
        f"{mod}/__init__.py": b"VALUE = 1\n",
        f"{mod}/data.bin": blob,
        f"{dist}.dist-info/METADATA": (f"Metadata-Version: 2.1\nName: {name}\nVersion: "
                                       f"{version}\nSummary: bench corpus\n").encode(),
        f"{dist}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: bench\n"
                                   b"Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    records = []
    for arc, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        records.append(f"{arc},sha256={digest},{len(data)}")
    records.append(f"{dist}.dist-info/RECORD,,")
    files[f"{dist}.dist-info/RECORD"] = ("\n".join(records) + "\n").encode()
    return _zip(files)


def _sdist(name: str, version: str, blob: bytes) -> bytes:
    base = f"{name.replace('-', '_')}-{version}"
    pkg_info = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                "Summary: bench corpus\n").encode()
    return _tar_gz({f"{base}/PKG-INFO": pkg_info, f"{base}/data.bin": blob,
                    f"{base}/setup.py": b"from setuptools import setup\nsetup()\n"})


def _npm(name: str, version: str, blob: bytes) -> bytes:
    manifest = json.dumps({"name": name, "version": version, "main": "index.js",
                           "description": "bench corpus"}).encode()
    return _tar_gz({"package/package.json": manifest,
                    "package/index.js": b"module.exports = 1;\n", "package/data.bin": blob})


REPOS_TOML = """\
[[repository]]
name = "maven-releases"
format = "maven2"
type = "hosted"
version_policy = "RELEASE"

[[repository]]
name = "npm-internal"
format = "npm"
type = "hosted"

[[repository]]
name = "pypi-internal"
format = "pypi"
type = "hosted"

[[repository]]
name = "raw-files"
format = "raw"
type = "hosted"
"""


def make_mixed_seed(root: Path, scale: float = 1.0, seed: int = 7) -> tuple[Path, CorpusStats]:
    """Write the corpus under `root/seed`; returns the seed folder and its counts."""
    rng = random.Random(seed)
    out = root / "seed"
    stats = CorpusStats()

    def count(fmt: str, files: int, versions: int = 1) -> None:
        stats.files[fmt] = stats.files.get(fmt, 0) + files
        stats.versions[fmt] = stats.versions.get(fmt, 0) + versions

    def write(path: Path, data: bytes, *, large_ok: bool = True) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        stats.bytes += len(data)
        if len(data) >= 1_000_000:
            stats.large += 1

    def n(base: int) -> int:
        return max(1, round(base * scale))

    maven = out / "maven-releases" / "com" / "acme" / "bench"
    for a in range(n(30)):
        art = f"svc{a:03d}"
        for v in range(5):
            ver = f"1.{v}.0"
            folder = maven / art / ver
            write(folder / f"{art}-{ver}.pom",
                  (f'<?xml version="1.0"?>\n<project><modelVersion>4.0.0</modelVersion>'
                   f"<groupId>com.acme.bench</groupId><artifactId>{art}</artifactId>"
                   f"<version>{ver}</version></project>\n").encode())
            write(folder / f"{art}-{ver}.jar",
                  _zip({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n",
                        "data.bin": _payload(rng, _size(rng))}))
            files = 2
            if rng.random() < 1 / 3:
                write(folder / f"{art}-{ver}-sources.jar",
                      _zip({"Main.java": _payload(rng, _size(rng) // 2 + 100)}))
                files += 1
            count("maven", files)
            stats.writes += files
        stats.writes += 1  # the artifact's maven-metadata.xml, once for all its versions
        stats.packages["maven"] = stats.packages.get("maven", 0) + 1

    for p in range(n(20)):
        name = f"@acme/bench-{p:03d}" if p % 2 else f"acme-bench-{p:03d}"
        bare = name.split("/")[-1]
        for v in range(5):
            ver = f"2.{v}.0"
            write(out / "npm-internal" / name / "-" / f"{bare}-{ver}.tgz",
                  _npm(name, ver, _payload(rng, _size(rng))))
            count("npm", 1)
            stats.writes += 1
        stats.packages["npm"] = stats.packages.get("npm", 0) + 1

    for p in range(n(20)):
        name = f"acme-bench-{p:03d}"
        mod = name.replace("-", "_")
        for v in range(5):
            ver = f"3.{v}.0"
            folder = out / "pypi-internal" / "packages" / name / ver
            write(folder / f"{mod}-{ver}-py3-none-any.whl", _wheel(name, ver,
                                                                   _payload(rng, _size(rng))))
            files = 1
            if rng.random() < 0.5:
                write(folder / f"{mod}-{ver}.tar.gz", _sdist(name, ver,
                                                             _payload(rng, _size(rng))))
                files += 1
            count("pypi", files)
            stats.writes += files
        stats.packages["pypi"] = stats.packages.get("pypi", 0) + 1

    for p in range(n(10)):
        for v in range(2):
            folder = out / "raw-files" / f"tool{p:02d}" / f"4.{v}"
            files = 1 + (rng.random() < 0.5)
            for i in range(files):
                write(folder / f"tool{p:02d}-4.{v}-part{i}.bin", _payload(rng, _size(rng)))
            count("generic", files)
            stats.writes += files
            stats.publishes += files
        stats.packages["generic"] = stats.packages.get("generic", 0) + 1

    (out / "repos.toml").write_text(REPOS_TOML)
    return out, stats


if __name__ == "__main__":
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        _, s = make_mixed_seed(Path(tmp), float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)
        print(s.summary())
