"""Detached signatures against the CodeArtifact sandbox.

PyPI: `<file>.asc` travels with its file as twine's `gpg_signature` part; whether CodeArtifact
keeps it is undocumented, so the sandbox switch `pypi_gpg_signature` is exercised both ways.
npm has no detached signatures in a registry (a packument's `dist.signatures` are the
registry's own ECDSA signatures, made by the registry), so there is nothing to carry there."""

from __future__ import annotations

import shutil

import anyio
import httpx
import pytest

from migrator.models import AssetOutcome, Format
from migrator.target import make_publisher
from migrator.verification import verify_version

from .conftest import SEED, Recorder, claim, make_client

pytestmark = pytest.mark.usefixtures("aws_env")

WHEEL = "packages/jaraco-classes/3.4.0/jaraco.classes-3.4.0-py3-none-any.whl"
SIGNATURE = (b"-----BEGIN PGP SIGNATURE-----\n\niHUEABYKAB0WIQR=\n=q1Zx\n"
             b"-----END PGP SIGNATURE-----\n")


@pytest.fixture
def signed_root(tmp_path):
    root = tmp_path / "seed"
    target = root / "pypi-internal" / WHEEL
    target.parent.mkdir(parents=True)
    shutil.copy(SEED / "pypi-internal" / WHEEL, target)
    (target.parent / (target.name + ".asc")).write_bytes(SIGNATURE)
    return root


@pytest.mark.parametrize("kept", ["asset", "dropped"])
def test_pypi_signature_is_sent_as_gpg_signature_with_its_file(kept, signed_root,
                                                               sandbox_factory):
    from migrator_sandbox.codeartifact import Behaviour

    sandbox = sandbox_factory(behaviour=Behaviour(pypi_gpg_signature=kept))

    async def scenario():
        async with make_client(sandbox) as client:
            version, files = claim(Format.PYPI, "pypi-internal", [WHEEL, WHEEL + ".asc"],
                                   target_repo="pypi-internal", root=signed_root)
            rec = Recorder()
            await make_publisher(Format.PYPI, client).publish(version, files, rec)
            check = await client.check_claimed(version)
            endpoint = await client.endpoint("pypi-internal", "pypi")
            page = await client.http.request("GET", endpoint + "simple/jaraco-classes/")
            return version, files, rec, check, page.text

    version, files, rec, check, page = anyio.run(scenario)
    log = httpx.get(f"{sandbox.base_url}/_sandbox/requests?entries=0").json()
    assert log["by_operation"]["pypi:Upload"] == 1  # one POST carries both
    if kept == "asset":
        assert rec.outcomes() == ["published", "published"]
        assert verify_version(version, check, version.assets, files=files).messages() == []
        assert 'data-gpg-sig="true"' in page and ".whl.asc<" not in page
    else:
        assert [r.outcome for r in rec.results] == [AssetOutcome.PUBLISHED,
                                                    AssetOutcome.CONFLICT]
        assert "does not keep detached signatures" in rec.results[1].reason


def test_pypi_signature_whose_file_is_already_there(signed_root, sandbox):
    async def scenario():
        async with make_client(sandbox) as client:
            publisher = make_publisher(Format.PYPI, client)
            version, files = claim(Format.PYPI, "pypi-internal", [WHEEL, WHEEL + ".asc"],
                                   target_repo="pypi-internal", root=signed_root)
            await publisher.publish(version, files, Recorder())
            # a resumed version: only the signature is left to do
            again = Recorder()
            await publisher.publish(version, files[1:], again)
            return again

    assert anyio.run(scenario).outcomes() == ["skipped_identical"]


def test_pypi_file_already_there_without_its_signature_is_sent_again_with_it(signed_root,
                                                                             sandbox):
    async def scenario():
        async with make_client(sandbox) as client:
            publisher = make_publisher(Format.PYPI, client)
            alone, alone_files = claim(Format.PYPI, "pypi-internal", [WHEEL],
                                       target_repo="pypi-internal", root=signed_root)
            await publisher.publish(alone, alone_files, Recorder())
            version, files = claim(Format.PYPI, "pypi-internal", [WHEEL, WHEEL + ".asc"],
                                   target_repo="pypi-internal", root=signed_root)
            rec = Recorder()
            await publisher.publish(version, files, rec)
            return rec, await client.check_claimed(version), version, files

    rec, check, version, files = anyio.run(scenario)
    assert rec.outcomes() == ["skipped_identical", "published"]
    assert verify_version(version, check, version.assets, files=files).messages() == []
