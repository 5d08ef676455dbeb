"""`migrator target init`: make the manifest's `[target]` topology true in CodeArtifact.

The domain (with its KMS key) and the `[[target.repositories]]` (description, upstreams in
order, one external connection each). The `[[namespaces]]` package groups are not made here
but by `run`, right after the dependency-confusion check and before the first internal
version: a group blocking external upstreams would hide the public names it covers from that
check (`migrator.pipeline.confusion`). It reads
what CodeArtifact reports first, prints the difference, then writes only what is missing, in
an order CodeArtifact accepts (a repository after its upstreams). A second run finds nothing
to do and says so.

A change that would break an existing repository is refused with its reason (exit 2) unless
`force`: reordering its upstreams (the order is the search order others rely on), removing an
upstream, removing or replacing its external connection. Adding upstreams while keeping the
existing ones in their order, adding a connection, and a new description are not breaking.
Nothing is ever deleted: a repository the manifest does not name is left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import anyio

from migrator.errors import ConfigError, TargetError
from migrator.manifest import Manifest, TargetRepository
from migrator.target.errors import CredentialsRefused
from migrator.target.provision import DomainState, RepositoryState, TargetControl

__all__ = ["Change", "ProvisionResult", "diff", "init_target", "order_repositories"]


@dataclass(slots=True)
class Change:
    """One write `target init` makes (or would make)."""

    action: str  # create-domain | create-repository | set-upstreams | set-description |
    #              associate-external-connection | disassociate-external-connection
    subject: str
    detail: str
    #: Why this change breaks an existing repository (None: it does not).
    breaking: str | None = None
    #: For the writer: the call's arguments.
    args: dict[str, Any] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("args")
        return out


@dataclass(slots=True)
class ProvisionResult:
    """What `target init` found, changed (or would change) and refused."""

    domain: str
    changes: list[Change]
    dry_run: bool
    force: bool
    applied: bool = False
    read_requests: int = 0
    write_requests: int = 0
    #: Changes made before CodeArtifact refused one (they stay; a new run continues).
    done: int = 0
    #: The change CodeArtifact refused and its answer (None: none was refused).
    failed: tuple[Change, str] | None = None
    #: Whether that refusal may pass on its own (throttling, 5xx): exit 1, else 2.
    failed_retryable: bool = False

    @property
    def refused(self) -> list[Change]:
        return [c for c in self.changes if c.breaking and not self.force]

    @property
    def exit_code(self) -> int:
        if self.failed is not None:
            return 1 if self.failed_retryable else 2
        return 2 if self.refused else 0

    def as_dict(self) -> dict[str, Any]:
        return {"domain": self.domain, "dry_run": self.dry_run, "force": self.force,
                "applied": self.applied, "changes": [c.as_dict() for c in self.changes],
                "refused": [c.as_dict() for c in self.refused],
                "failed": None if self.failed is None else
                self.failed[0].as_dict() | {"error": self.failed[1]}, "done": self.done,
                "requests": {"read": self.read_requests, "write": self.write_requests,
                             "planned_writes": len(self.changes)}}

    def render(self) -> str:
        return self.render_diff() + ("\n" + self.render_outcome() if self.changes else "")

    def render_diff(self) -> str:
        """The difference, before anything is written."""
        where = f"CodeArtifact domain {self.domain}"
        if not self.changes:
            return (f"{where}: nothing changes: the domain, repositories, upstreams and "
                    f"external connections are as the manifest says "
                    f"({self.read_requests} read requests, 0 writes)")
        lines = [f"{where}: {len(self.changes)} change(s):"]
        for c in self.changes:
            mark = "!" if c.breaking else "+"
            lines.append(f"  {mark} {c.action} {c.subject}: {c.detail}")
            if c.breaking:
                lines.append(f"      breaks an existing repository: {c.breaking}")
        return "\n".join(lines)

    def render_outcome(self) -> str:
        """What was done about the difference (empty when there was none)."""
        if not self.changes:
            return ""
        lines: list[str] = []
        if self.refused:
            lines.append(f"refused: {len(self.refused)} change(s) would break existing "
                         "repositories; nothing was written. Fix [[target.repositories]] or "
                         "run `migrator target init MANIFEST --force` to apply them anyway")
        elif self.failed is not None:
            change, error = self.failed
            lines.append(f"failed: {change.action} {change.subject}: {error}")
            lines.append(f"  {self.done} change(s) before it were made and stay; fix "
                         "[[target.repositories]] (or the permission) and run `migrator target "
                         "init` again: it continues from what CodeArtifact reports"
                         + _HINTS.get(change.action, ""))
        elif self.dry_run:
            lines.append(f"dry run: {len(self.changes)} write request(s) and "
                         f"{self.read_requests} read request(s); nothing was written")
        else:
            lines.append(f"applied: {self.write_requests} write request(s), "
                         f"{self.read_requests} read request(s)")
        return "\n".join(lines)


_HINTS = {
    # Whether one repository may have both is undocumented (reference §8): where CodeArtifact
    # refuses, the recommended layout avoids the question.
    "associate-external-connection": "; if CodeArtifact refuses a connection on a repository "
    "with upstreams, give the connection to a proxy repository of its own and list that as "
    "an upstream (sample-manifests/topology.toml)",
}


def order_repositories(repos: tuple[TargetRepository, ...]) -> list[TargetRepository]:
    """The repositories with every upstream named in the manifest before its downstreams.

    :raises ConfigError: the upstreams form a cycle.
    """
    by_name = {r.name: r for r in repos}
    done: dict[str, bool] = {}
    out: list[TargetRepository] = []

    def visit(r: TargetRepository, path: tuple[str, ...]) -> None:
        if done.get(r.name):
            return
        if r.name in path:
            cycle = " → ".join((*path[path.index(r.name):], r.name))
            raise ConfigError(f"[[target.repositories]]: the upstreams form a cycle: {cycle}",
                              hint="CodeArtifact upstream chains cannot loop; remove one link")
        for u in r.upstreams:
            if u in by_name:
                visit(by_name[u], (*path, r.name))
        done[r.name] = True
        out.append(r)

    for r in repos:
        visit(r, ())
    return out


def _upstream_change(want: TargetRepository, have: RepositoryState) -> Change | None:
    current, wanted = list(have.upstreams), list(want.upstreams)
    if current == wanted:
        return None
    breaking = None
    removed = [u for u in current if u not in wanted]
    if removed:
        breaking = f"removes upstream(s) {', '.join(removed)} it searches today"
    elif [u for u in wanted if u in current] != current:
        breaking = (f"reorders its upstreams from [{', '.join(current)}] to "
                    f"[{', '.join(wanted)}]: the order is the search order its consumers rely on")
    return Change("set-upstreams", want.name,
                  f"[{', '.join(current)}] → [{', '.join(wanted)}]", breaking,
                  {"upstreams": wanted})


def diff(manifest: Manifest, state: DomainState) -> list[Change]:
    """The writes that make `state` what the manifest says, in the order to make them.

    :raises ConfigError: an upstream is neither in the manifest nor in the domain, the
        upstreams loop, or the domain's KMS key differs (a domain's key cannot change).
    """
    t = manifest.target
    changes: list[Change] = []
    if not state.exists:
        changes.append(Change("create-domain", t.domain,
                              f"KMS key {t.kms_key}" if t.kms_key else "AWS-owned KMS key",
                              args={"kms_key": t.kms_key}))
    elif t.kms_key and ":key/" in t.kms_key and state.encryption_key \
            and state.encryption_key != t.kms_key:
        raise ConfigError(
            f"CodeArtifact domain {t.domain} is encrypted with {state.encryption_key}, the "
            f"manifest says [target] kms_key = {t.kms_key}",
            hint="a domain's key cannot be changed; remove kms_key or set it to the "
            "domain's key")
    named = {r.name for r in t.repositories}
    formats = {r.name: r.formats for r in t.repositories if r.formats}
    for mapping in manifest.repositories:
        allowed = formats.get(mapping.target or "")
        if allowed and mapping.format is not None and str(mapping.format) not in allowed:
            raise ConfigError(
                f"{manifest.path}: [[repositories]] {mapping.source} → {mapping.target}: "
                f"format {mapping.format}, but [[target.repositories]] {mapping.target} is "
                f"for {', '.join(allowed)}",
                hint="map it to a repository meant for that format, or add the format to "
                "its formats list")
    for r in t.repositories:
        for u in r.upstreams:
            if u not in named and u not in state.names:
                raise ConfigError(
                    f"[[target.repositories]] {r.name}: upstream {u!r} is neither in the "
                    f"manifest nor in CodeArtifact domain {t.domain}",
                    hint=f"add a [[target.repositories]] table with name = {u!r} or fix "
                    "the upstreams")
    for want in order_repositories(t.repositories):
        have = state.repositories.get(want.name)
        if have is None:
            changes.append(Change(
                "create-repository", want.name,
                f"upstreams [{', '.join(want.upstreams)}]"
                + (f", description {want.description!r}" if want.description else ""),
                args={"description": want.description, "upstreams": list(want.upstreams)}))
            if want.external_connection:
                changes.append(Change("associate-external-connection", want.name,
                                      want.external_connection,
                                      args={"connection": want.external_connection}))
            continue
        up = _upstream_change(want, have)
        if up is not None:
            changes.append(up)
        if want.description and want.description != have.description:
            changes.append(Change("set-description", want.name,
                                  f"{have.description!r} → {want.description!r}",
                                  args={"description": want.description}))
        for conn in have.external_connections:
            if conn != want.external_connection:
                why = (f"replaces its external connection {conn} by {want.external_connection}"
                       if want.external_connection else
                       f"removes its external connection {conn}: public packages stop "
                       "resolving through it")
                changes.append(Change("disassociate-external-connection", want.name, conn,
                                      why, {"connection": conn}))
        if want.external_connection and want.external_connection not in \
                have.external_connections:
            changes.append(Change("associate-external-connection", want.name,
                                  want.external_connection,
                                  args={"connection": want.external_connection}))
    return changes


async def _apply(control: TargetControl, changes: list[Change], result: ProvisionResult
                 ) -> None:
    for c in changes:
        try:
            await _apply_one(control, c)
        except CredentialsRefused:
            raise  # not this change's fault: the credentials; one line from the CLI
        except TargetError as exc:
            result.failed, result.failed_retryable = (c, exc.message), bool(exc.retryable)
            return
        result.done += 1


async def _apply_one(control: TargetControl, c: Change) -> None:
    a = c.args
    if c.action == "create-domain":
        await control.create_domain(a["kms_key"])
    elif c.action == "create-repository":
        await control.create_repository(c.subject, a["description"], a["upstreams"])
    elif c.action == "set-upstreams":
        await control.update_repository(c.subject, upstreams=a["upstreams"])
    elif c.action == "set-description":
        await control.update_repository(c.subject, description=a["description"])
    elif c.action == "disassociate-external-connection":
        await control.disassociate_external_connection(c.subject, a["connection"])
    elif c.action == "associate-external-connection":
        await control.associate_external_connection(c.subject, a["connection"])
    else:  # pragma: no cover - every action above is produced by `diff`
        raise AssertionError(c.action)


async def provision(manifest: Manifest, client: Any, *, dry_run: bool = False,
                    force: bool = False,
                    on_diff: Callable[[ProvisionResult], None] | None = None
                    ) -> ProvisionResult:
    """Read, diff and (unless `dry_run` or refused) apply, over a `CodeArtifactClient`;
    `on_diff(result)` is called with the difference before anything is written."""
    control = TargetControl(client)
    state = await control.read([r.name for r in manifest.target.repositories])
    changes = diff(manifest, state)
    result = ProvisionResult(manifest.target.domain, changes, dry_run, force)
    result.read_requests = control.reads
    if on_diff is not None:
        on_diff(result)
    if changes and not dry_run and not result.refused:
        await _apply(control, changes, result)
        result.applied = result.failed is None
    result.read_requests = control.reads
    result.write_requests = control.writes
    return result


def init_target(manifest: Manifest, *, dry_run: bool = False, force: bool = False,
                client: Any = None,
                on_diff: Callable[[ProvisionResult], None] | None = None) -> ProvisionResult:
    """`migrator target init`: see the module's doc. `on_diff` sees the difference before
    anything is written (the CLI prints it); `client` is injected by tests.

    :raises ConfigError: the manifest has no `[[target.repositories]]`, or `diff` refuses
        it. :raises TargetError: CodeArtifact failed.
    """
    if not manifest.target.repositories:
        raise ConfigError(f"{manifest.path}: nothing to provision: no [[target.repositories]]",
                          hint="describe the topology in [[target.repositories]] tables; "
                          "sample-manifests/topology.toml is an example")

    async def main() -> ProvisionResult:
        if client is not None:
            return await provision(manifest, client, dry_run=dry_run, force=force,
                                   on_diff=on_diff)
        from migrator.target.codeartifact import CodeArtifactClient

        async with CodeArtifactClient.from_manifest(manifest) as owned:
            return await provision(manifest, owned, dry_run=dry_run, force=force,
                                   on_diff=on_diff)

    return anyio.run(main)
