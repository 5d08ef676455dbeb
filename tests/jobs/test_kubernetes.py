"""What the Kubernetes definitions rely on beyond their schema: $(VAR) expansion in args
gives each Indexed Job pod its own state, the counts agree, the pods are locked down and the
exit codes map to retries as the CLI means them."""

from __future__ import annotations

import yaml

from .conftest import JOBS, k8s_containers, k8s_expand

CRONJOB = JOBS / "kubernetes" / "cronjob-sync.yaml"
INDEXED = JOBS / "kubernetes" / "indexed-job-shards.yaml"


def _workload(path):
    return next(d for d in yaml.safe_load_all(path.read_text()) if d["kind"] != "ServiceAccount")


def test_expansion_follows_kubernetes_rules():
    env = {"A": "1"}
    assert k8s_expand("x-$(A).db", env) == "x-1.db"
    assert k8s_expand("$$(A)", env) == "$(A)"          # escaped
    assert k8s_expand("$(UNDECLARED)", env) == "$(UNDECLARED)"  # left as written


def test_each_index_gets_its_own_state():
    job = _workload(INDEXED)
    ((_, c),) = k8s_containers(INDEXED)
    declared = [e["name"] for e in c["env"]]
    # every $(NAME) in the args is an env entry of this container, or it is not expanded
    for arg in c["args"]:
        unexpanded = k8s_expand(arg, dict.fromkeys(declared, "x"))
        assert "$(" not in unexpanded, f"{arg}: refers to a variable the container lacks"
    index_env = next(e for e in c["env"] if e["name"] == "JOB_COMPLETION_INDEX")
    assert index_env["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.annotations['batch.kubernetes.io/job-completion-index']")
    n = job["spec"]["completions"]
    states = set()
    for i in range(n):
        args = [k8s_expand(a, {"JOB_COMPLETION_INDEX": str(i)}) for a in c["args"]]
        states.add(args[args.index("--state") + 1])
    assert len(states) == n and all(s.startswith("s3://") for s in states)
    # the count is written three times and must agree
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["parallelism"] == n == int(c["args"][c["args"].index("--shards") + 1])
    assert c["args"][c["args"].index("--shard") + 1] == "auto"


def test_cronjob_never_overlaps_and_syncs_against_s3():
    cron = _workload(CRONJOB)
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    ((_, c),) = k8s_containers(CRONJOB)
    assert c["args"][c["args"].index("sync") + 1].startswith("/etc/migrator/")
    assert c["args"][c["args"].index("--state") + 1].startswith("s3://")


def test_pods_are_non_root_read_only_and_bounded():
    for path in (CRONJOB, INDEXED):
        w = _workload(path)
        spec = w["spec"]["jobTemplate"]["spec"] if w["kind"] == "CronJob" else w["spec"]
        pod = spec["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001  # the image's USER
        assert pod["automountServiceAccountToken"] is False
        assert pod["restartPolicy"] == "Never"
        (c,) = pod["containers"]
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"]
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert {"cpu", "memory"} <= set(c["resources"]["requests"])
        assert "memory" in c["resources"]["limits"]
        # writable: only the emptyDirs (state copy + spool, tmp); the manifest read-only
        mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
        assert mounts["/etc/migrator"]["readOnly"] is True
        kinds = {v["name"]: set(v) - {"name"} for v in pod["volumes"]}
        for m in c["volumeMounts"]:
            if not m.get("readOnly"):
                assert kinds[m["name"]] == {"emptyDir"}, m


def test_exit_codes_1_and_2_are_not_retried():
    for path, action in ((CRONJOB, "FailJob"), (INDEXED, "FailIndex")):
        w = _workload(path)
        spec = w["spec"]["jobTemplate"]["spec"] if w["kind"] == "CronJob" else w["spec"]
        rules = spec["podFailurePolicy"]["rules"]
        fail = next(r for r in rules if r["action"] == action)
        assert fail["onExitCodes"] == {"containerName": "migrator", "operator": "In",
                                       "values": [1, 2]}
        # 3 (interrupted) is left to the retry budget
        assert spec.get("backoffLimit", spec.get("backoffLimitPerIndex")) >= 1


def test_the_service_account_assumes_the_job_role_through_irsa():
    sa = next(d for d in yaml.safe_load_all(CRONJOB.read_text()) if d["kind"] == "ServiceAccount")
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    trust = (JOBS / "iam" / "eks-irsa-trust.json").read_text()
    assert (f"system:serviceaccount:{sa['metadata']['namespace']}:{sa['metadata']['name']}"
            in trust)
