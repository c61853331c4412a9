"""deploy/k8s as `podman kube play` (podman 4.3) can run it; used by scripts/deploy-test.sh.

Usage: python3 scripts/kube-play-manifests.py OUT_DIR   (TAXI_REDIS_PASSWORD and TAXI_TLS_DIR in
the environment)
Writes OUT_DIR/redis.yaml (the Redis ConfigMap and Redis) and OUT_DIR/taxi.yaml (the eight taxi
Deployments). Only what kube play cannot do is changed, each the way Kubernetes would do it:
- `$(VAR)` in env values and args is expanded from the container's earlier env (kube play 4.3
  passes it on literally), secretKeyRef values from TAXI_REDIS_PASSWORD (the Secret's value);
  an optional Secret's keys are left out (the tier makes no taxi-notify Secret);
- the Redis StatefulSet becomes a Deployment of one with an emptyDir for its claim (kube play
  4.3 ignores StatefulSets);
- containers publish no ports and each Deployment runs one replica: kube play 4.3 publishes
  every containerPort on the host's 0.0.0.0 at the same number, so a second pod (or a
  second role, all on 50051 and 9464) cannot start; the tier probes inside the pods;
- the TLS Secret volume (`taxi-tls`: tls.crt, tls.key, ca.crt) becomes a hostPath of
  TAXI_TLS_DIR holding the same three files (kube play 4.3 stores a Secret in a form its own
  pods cannot read as Kubernetes would give it);
- Services and the Prometheus Operator's kinds are left out (nothing runs them here;
  tests/tests/deploy.rs checks the manifests statically). The Service name `redis` is given by
  the network alias the tier plays Redis with.
"""

import os
import re
import sys

import yaml

K8S = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy", "k8s")
ROLES = ["fleet", "driver", "hotline", "onekey", "dispatch", "notify", "console", "terminal"]


def expand(container, password):
    """Kubernetes' dependent environment variables: $(NAME) from the env defined before it."""
    values = {}
    # An optional Secret's keys (the notify role's gateway, taxi-notify) are left unset, as
    # Kubernetes leaves them when that Secret does not exist.
    container["env"] = [v for v in container.get("env", [])
                        if not v.get("valueFrom", {}).get("secretKeyRef", {}).get("optional")]
    for var in container["env"]:
        if "valueFrom" in var:
            ref = var["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == ("taxi-redis", "password"), ref
            values[var["name"]] = password
        else:
            var["value"] = re.sub(r"\$\((\w+)\)", lambda m: values.get(m.group(1), m.group(0)), var["value"])
            values[var["name"]] = var["value"]
    for field in ("command", "args"):
        if field in container:
            container[field] = [re.sub(r"\$\((\w+)\)", lambda m: values.get(m.group(1), m.group(0)), a)
                                for a in container[field]]


def docs(name):
    with open(os.path.join(K8S, name + ".yaml")) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def main():
    out = sys.argv[1]
    password = os.environ["TAXI_REDIS_PASSWORD"]
    redis = []
    for d in docs("redis"):
        if d["kind"] == "StatefulSet":
            d["kind"] = "Deployment"
            d["spec"].pop("serviceName")
            claims = d["spec"].pop("volumeClaimTemplates")
            d["spec"]["template"]["spec"]["volumes"] += [{"name": c["metadata"]["name"], "emptyDir": {}} for c in claims]
        if d["kind"] in ("ConfigMap", "Deployment"):
            redis.append(d)
    taxi = [d for role in ROLES for d in docs(role) if d["kind"] == "Deployment"]
    tls_dir = os.environ["TAXI_TLS_DIR"]
    for d in taxi:
        for v in d["spec"]["template"]["spec"].get("volumes", []):
            if v.get("secret", {}).get("secretName") == "taxi-tls":
                del v["secret"]
                v["hostPath"] = {"path": tls_dir, "type": "Directory"}
    for d in redis + taxi:
        if d["kind"] != "Deployment":
            continue
        d["spec"]["replicas"] = 1
        for c in d["spec"]["template"]["spec"]["containers"]:
            c.pop("ports", None)
            expand(c, password)
    with open(os.path.join(out, "redis.yaml"), "w") as f:
        yaml.safe_dump_all(redis, f)
    with open(os.path.join(out, "taxi.yaml"), "w") as f:
        yaml.safe_dump_all(taxi, f)


if __name__ == "__main__":
    main()
