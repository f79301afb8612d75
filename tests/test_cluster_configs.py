"""Cluster configs: the AWS launcher YAML against Ray's own schema, the KubeRay manifests, the image.

Nothing here starts a cluster: each test parses a file and checks what decides whether it would
run: schema validity, where work can be scheduled, GPUs, the image and its pins, how S3 is
reached, and what the jobs run.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "cluster"
KUBERAY = CLUSTER / "kuberay"

# The official Ray GPU image of the Ray and Python versions this environment runs.
RAY_GPU_IMAGE = f"rayproject/ray:{ray.__version__}-py{sys.version_info[0]}{sys.version_info[1]}-gpu"

# Hardware of the EC2 types aws.yaml may use (AWS instance type pages), to check the resources
# each node type advertises to the autoscaler. Adding a node type means adding it here.
EC2_SPECS = {
    "m6i.2xlarge": {"CPU": 8, "GPU": 0},
    "g5.2xlarge": {"CPU": 8, "GPU": 1},
    "g6.2xlarge": {"CPU": 8, "GPU": 1},
    "c7i.8xlarge": {"CPU": 32, "GPU": 0},
}
# Cores one GPU keeps busy with the paper-size model at 720p (`vidcolor bench sizing`, H100
# frames/s; docs/scaling.md): the cluster at its maximum must offer at least that per GPU. 17.5
# at the sizing bench's first run; 12.6-14 since issue 27's cheaper stages: 17 keeps a margin.
CORES_PER_GPU = 17

# Field names of the KubeRay ray.io/v1 types (ray-operator/apis/ray/v1/*_types.go), to catch
# misspelt keys that kubectl would drop silently (the CRDs preserve no unknown fields).
RAYJOB_SPEC_FIELDS = {
    "activeDeadlineSeconds", "backoffLimit", "rayClusterSpec", "submitterPodTemplate", "metadata",
    "clusterSelector", "submitterConfig", "managedBy", "deletionStrategy", "entrypoint",
    "runtimeEnvYAML", "jobId", "submissionMode", "entrypointResources", "entrypointNumCpus",
    "entrypointNumGpus", "ttlSecondsAfterFinished", "shutdownAfterJobFinishes", "suspend",
    "schedule",
}  # fmt: skip
RAYCLUSTER_SPEC_FIELDS = {
    "rayVersion", "enableInTreeAutoscaling", "autoscalerOptions", "headGroupSpec",
    "workerGroupSpecs", "headServiceAnnotations", "suspend", "managedBy",
    "gcsFaultToleranceOptions", "upgradeStrategy",
}  # fmt: skip
WORKER_GROUP_FIELDS = {
    "groupName", "replicas", "minReplicas", "maxReplicas", "idleTimeoutSeconds",
    "rayStartParams", "template", "scaleStrategy", "numOfHosts", "suspend",
}  # fmt: skip

# What a leaked AWS credential looks like: access key ids, a secret assigned in config syntax,
# and bare 40-character secret access keys.
CREDENTIAL_PATTERNS = [
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    re.compile(r"(?i)aws_secret_access_key\s*[:=]\s*['\"]?[A-Za-z0-9/+]"),
    re.compile(r"(?<![A-Za-z0-9/+=_.-])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=_.-])"),
]


def credential_literals(text: str) -> list[str]:
    return [m.group(0) for pattern in CREDENTIAL_PATTERNS for m in pattern.finditer(text)]


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def pinned_requirement(name: str) -> Requirement:
    for spec in pyproject()["project"]["dependencies"]:
        requirement = Requirement(spec)
        if requirement.name == name:
            return requirement
    raise AssertionError(f"{name} is not a dependency in pyproject.toml")


def exact_pin(name: str) -> str:
    (specifier,) = pinned_requirement(name).specifier
    assert specifier.operator == "==", f"{name} should be pinned with ==, got {specifier}"
    return specifier.version


# ---------------------------------------------------------------------------------------------
# cluster/aws.yaml


@pytest.fixture(scope="module")
def aws() -> dict:
    return yaml.safe_load((CLUSTER / "aws.yaml").read_text())


@pytest.fixture(scope="module")
def ray_schema() -> dict:
    import ray.autoscaler

    return json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())


def head_and_workers(aws: dict) -> tuple[dict, dict[str, dict]]:
    node_types = aws["available_node_types"]
    head_name = aws["head_node_type"]
    workers = {name: node for name, node in node_types.items() if name != head_name}
    return node_types[head_name], workers


def test_aws_config_passes_the_autoscaler_schema(aws, ray_schema):
    from ray.autoscaler._private.util import prepare_config, validate_config

    jsonschema.Draft7Validator.check_schema(ray_schema)
    jsonschema.validate(aws, ray_schema)
    # What `ray up` does before launching: fill defaults for the provider, then validate again
    # (schema plus the cross-field checks: head type listed, min_workers within max_workers).
    validate_config(prepare_config(copy.deepcopy(aws)))


@pytest.mark.parametrize(
    "break_config",
    [
        lambda c: c.update(max_wokers=4),  # misspelt top-level key
        lambda c: c["available_node_types"][c["head_node_type"]].update(resources={"CPU": "0"}),
        lambda c: c["available_node_types"][c["head_node_type"]].pop("node_config"),
        lambda c: c["docker"].update(imag="rayproject/ray"),
    ],
    ids=["unknown-key", "string-resource", "no-node-config", "docker-typo"],
)
def test_aws_schema_check_rejects_broken_configs(aws, ray_schema, break_config):
    broken = copy.deepcopy(aws)
    break_config(broken)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, ray_schema)


def test_aws_head_gets_no_work(aws):
    head, _ = head_and_workers(aws)
    assert head["resources"].get("CPU") == 0, "the head must advertise CPU: 0"
    assert head["resources"].get("GPU", 0) == 0
    assert head.get("max_workers", 0) == 0 and head.get("min_workers", 0) == 0
    assert EC2_SPECS[head["node_config"]["InstanceType"]]["GPU"] == 0, "head should be a CPU node"


def test_aws_gpu_workers_autoscale(aws):
    _, workers = head_and_workers(aws)
    assert workers, "no worker node types"
    for name, node in workers.items():
        instance_type = node["node_config"]["InstanceType"]
        family = {"g5": "gpu", "g6": "gpu", "c7i": "cpu"}.get(instance_type.split(".")[0])
        assert family, f"{name}: {instance_type}"
        assert instance_type in EC2_SPECS, f"{name}: add {instance_type}'s hardware to EC2_SPECS"
        assert node["resources"] == EC2_SPECS[instance_type], f"{name} advertises wrong resources"
        assert (node["resources"]["GPU"] > 0) == (family == "gpu"), name
        assert 0 <= node["min_workers"] < node["max_workers"], f"{name} cannot scale"
    assert aws["max_workers"] >= sum(node["max_workers"] for node in workers.values())
    assert aws["idle_timeout_minutes"] > 0


def test_aws_offers_the_cores_a_gpu_keeps_busy(aws):
    _, workers = head_and_workers(aws)
    total = {
        r: sum(n["max_workers"] * n["resources"][r] for n in workers.values())
        for r in ("CPU", "GPU")
    }
    assert total["GPU"] > 0 and total["CPU"] / total["GPU"] >= CORES_PER_GPU, total


def test_aws_node_configs_are_valid_run_instances_requests(aws):
    import botocore.session
    from botocore.validate import ParamValidator

    # The launcher passes node_config to EC2 RunInstances (adding MinCount/MaxCount); validate
    # it against botocore's model of that request, nested fields and enums included.
    run_instances = (
        botocore.session.get_session().get_service_model("ec2").operation_model("RunInstances")
    )
    for name, node in aws["available_node_types"].items():
        request = {**node["node_config"], "MinCount": 1, "MaxCount": 1}
        report = ParamValidator().validate(request, run_instances.input_shape)
        assert not report.has_errors(), f"{name}: {report.generate_report()}"
    bad = {**aws["available_node_types"]["head"]["node_config"], "InstanceTyp": "m6i.2xlarge"}
    assert (
        ParamValidator()
        .validate({**bad, "MinCount": 1, "MaxCount": 1}, run_instances.input_shape)
        .has_errors()
    )


def test_aws_reaches_s3_through_instance_profiles_not_keys(aws):
    for name, node in aws["available_node_types"].items():
        profile = node["node_config"].get("IamInstanceProfile", {})
        assert profile.get("Name") or profile.get("Arn"), f"{name} has no IAM instance profile"
    text = (CLUSTER / "aws.yaml").read_text()
    assert credential_literals(text) == []
    assert "AWS_ACCESS_KEY_ID" not in text and "AWS_SECRET_ACCESS_KEY" not in text


def test_aws_image_is_pinned_and_installs_this_project(aws):
    assert aws["docker"]["image"] == RAY_GPU_IMAGE
    assert aws["docker"].get("head_image", RAY_GPU_IMAGE) == RAY_GPU_IMAGE
    assert aws["docker"].get("worker_image", RAY_GPU_IMAGE) == RAY_GPU_IMAGE
    assert pinned_requirement("ray").specifier.contains(ray.__version__)

    # file_mounts paths are relative to where `ray up` runs: the repository root.
    (remote,) = [
        r for r, local in aws["file_mounts"].items() if (ROOT / local / "pyproject.toml").is_file()
    ]
    setup = aws["setup_commands"]
    assert any("pip install" in cmd and remote in cmd for cmd in setup), setup
    assert any("ffmpeg" in cmd for cmd in setup), "ffmpeg/ffprobe must be installed on the nodes"
    assert ".gitignore" in aws["rsync_filter"], ".venv would be synced to every node"


def test_credential_check_finds_aws_example_keys():
    # AWS's documented example key pair, to show the check above can fail.
    leaked = "AWS_ACCESS_KEY_ID: AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
    found = credential_literals(leaked)
    assert "AKIAIOSFODNN7EXAMPLE" in found and "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" in found


# ---------------------------------------------------------------------------------------------
# cluster/kuberay/


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict]:
    docs = {}
    for path in sorted(KUBERAY.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            docs[f"{path.name}:{doc['kind']}/{doc['metadata']['name']}"] = doc
    return docs


def cluster_spec(doc: dict) -> dict:
    return doc["spec"]["rayClusterSpec"] if doc["kind"] == "RayJob" else doc["spec"]


def ray_containers(doc: dict) -> list[dict]:
    spec = cluster_spec(doc)
    groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
    return [c for group in groups for c in group["template"]["spec"]["containers"]]


def rayjob(manifests: dict, script: str) -> dict:
    (job,) = [
        doc
        for doc in manifests.values()
        if doc["kind"] == "RayJob" and script in doc["spec"]["entrypoint"]
    ]
    return job


def test_kuberay_has_a_cluster_and_both_jobs(manifests):
    kinds = sorted(doc["kind"] for doc in manifests.values())
    assert kinds == ["RayCluster", "RayJob", "RayJob"], kinds
    rayjob(manifests, "jobs/colourise.py")
    rayjob(manifests, "jobs/train.py")


def test_kuberay_manifests_use_ray_io_v1_fields(manifests):
    for name, doc in manifests.items():
        assert doc["apiVersion"] == "ray.io/v1", name
        if doc["kind"] == "RayJob":
            assert set(doc["spec"]) <= RAYJOB_SPEC_FIELDS, (
                name,
                set(doc["spec"]) - RAYJOB_SPEC_FIELDS,
            )
        spec = cluster_spec(doc)
        assert set(spec) <= RAYCLUSTER_SPEC_FIELDS, (name, set(spec) - RAYCLUSTER_SPEC_FIELDS)
        assert spec["rayVersion"] == ray.__version__, name
        for group in spec["workerGroupSpecs"]:
            assert set(group) <= WORKER_GROUP_FIELDS, (name, set(group) - WORKER_GROUP_FIELDS)
        for group in [spec["headGroupSpec"], *spec["workerGroupSpecs"]]:
            # `ray start` flags: KubeRay wants every value as a string.
            assert all(isinstance(v, str) for v in group["rayStartParams"].values()), name


def test_kuberay_head_gets_no_work_and_workers_get_gpus(manifests):
    for name, doc in manifests.items():
        spec = cluster_spec(doc)
        assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0", name
        for head in spec["headGroupSpec"]["template"]["spec"]["containers"]:
            assert "nvidia.com/gpu" not in head["resources"].get("limits", {}), name
        assert spec["workerGroupSpecs"], name
        for group in spec["workerGroupSpecs"]:
            assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"], name
            for container in group["template"]["spec"]["containers"]:
                resources = container["resources"]
                assert int(resources["limits"]["nvidia.com/gpu"]) >= 1, (name, group["groupName"])
                # Extended resources cannot be overcommitted: requests must equal limits.
                gpu_request = resources.get("requests", {}).get("nvidia.com/gpu")
                assert gpu_request in (None, resources["limits"]["nvidia.com/gpu"]), name
                assert {"cpu", "memory"} <= set(resources["limits"]), name


def test_kuberay_s3_credentials_come_from_a_secret(manifests):
    for name, doc in manifests.items():
        for container in ray_containers(doc):
            env = {var["name"]: var for var in container.get("env", [])}
            for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
                assert key in env, f"{name}/{container['name']} lacks {key}"
                assert "value" not in env[key], f"{name}: {key} is inline"
                assert env[key]["valueFrom"]["secretKeyRef"]["name"] == "vidcolor-s3", name
            for var in env.values():
                if re.search(r"KEY|SECRET|TOKEN|PASSWORD", var["name"]):
                    assert "value" not in var, f"{name}: {var['name']} has a literal value"
    for path in KUBERAY.glob("*.yaml"):
        assert credential_literals(path.read_text()) == [], path.name


def test_kuberay_image_is_the_project_image(manifests):
    version = pyproject()["project"]["version"]
    images = {c["image"] for doc in manifests.values() for c in ray_containers(doc)}
    assert len(images) == 1, f"all pods should run one image, got {images}"
    (image,) = images
    assert image.endswith(f"/vidcolor:{version}"), image
    # The README's build/push commands produce that same repository:tag.
    readme = (CLUSTER / "README.md").read_text()
    assert f'docker build -f cluster/Dockerfile -t "$REGISTRY/vidcolor:{version}" .' in readme
    assert f'docker push "$REGISTRY/vidcolor:{version}"' in readme


def dockerfile_workdir() -> str:
    (workdir,) = re.findall(r"^WORKDIR\s+(\S+)", (CLUSTER / "Dockerfile").read_text(), re.M)
    return workdir


def test_colourise_rayjob_entrypoint(manifests):
    job = rayjob(manifests, "jobs/colourise.py")
    argv = shlex.split(job["spec"]["entrypoint"])
    assert argv[:2] == ["python", f"{dockerfile_workdir()}/jobs/colourise.py"], argv
    inputs = argv[2 : argv.index("-o")]
    output = argv[argv.index("-o") + 1]
    assert inputs and all(uri.startswith("s3://") for uri in inputs), inputs
    assert output.startswith("s3://") and output not in inputs
    assert argv[argv.index("--device") + 1] == "cuda"
    gpus = sum(
        group["maxReplicas"] * int(c["resources"]["limits"]["nvidia.com/gpu"])
        for group in job["spec"]["rayClusterSpec"]["workerGroupSpecs"]
        for c in group["template"]["spec"]["containers"]
    )
    # An autoscaling pool: starts with the first GPU node, grows to one actor per GPU.
    assert "--num-actors" not in argv
    max_actors = int(argv[argv.index("--max-actors") + 1])
    assert 1 <= max_actors <= gpus, f"{max_actors} GPU actors but at most {gpus} GPUs"
    assert job["spec"]["shutdownAfterJobFinishes"] is True


def test_train_rayjob_entrypoint(manifests):
    job = rayjob(manifests, "jobs/train.py")
    argv = shlex.split(job["spec"]["entrypoint"])
    assert argv[:2] == ["python", f"{dockerfile_workdir()}/jobs/train.py"], argv
    assert argv[argv.index("--data") + 1].startswith("s3://")
    assert argv[argv.index("--output") + 1].startswith("s3://")
    assert "--gpu" in argv
    spec = job["spec"]["rayClusterSpec"]
    # Data-parallel training needs its whole world up front: a fixed group with a GPU per worker.
    (group,) = spec["workerGroupSpecs"]
    assert group["minReplicas"] == group["replicas"] == group["maxReplicas"]
    (container,) = group["template"]["spec"]["containers"]
    gpus = group["replicas"] * int(container["resources"]["limits"]["nvidia.com/gpu"])
    assert int(argv[argv.index("--workers") + 1]) == gpus
    assert job["spec"]["backoffLimit"] >= 1, "a lost cluster should be retried (and resume)"


# ---------------------------------------------------------------------------------------------
# cluster/Dockerfile


def test_dockerfile_base_image_and_pins_match_pyproject():
    text = (CLUSTER / "Dockerfile").read_text()
    assert re.findall(r"^FROM\s+(\S+)", text, re.M) == [RAY_GPU_IMAGE]
    args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, re.M))
    assert args["TORCH_VERSION"] == exact_pin("torch")
    assert args["TORCHVISION_VERSION"] == exact_pin("torchvision")
    assert '"torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}"' in text
    assert "ffmpeg" in text
    assert re.search(r"^RUN pip install --no-cache-dir \.", text, re.M), "project not installed"
    for path in ("pyproject.toml", "vidcolor", "jobs"):
        assert re.search(rf"^COPY .*\b{path}\b", text, re.M), f"{path} is not copied"
    ignored = (CLUSTER / "Dockerfile.dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored
