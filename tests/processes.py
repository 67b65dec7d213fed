"""The chart's rendered containers, run as local processes (tests/test_chart_processes.py and
tests/test_metrics_scrape.py; loaded as a pytest plugin by both, so the session fixture
`chart_platform` is shared).

A container of the render becomes a local process this way, and in no other:

- argv: its `command` + `args`. The executable is this virtualenv's (`prodcat`, `mlflow`, the
  same code the images install); `tini --` (the data image's PID 1) is kept when `tini` is on
  PATH, with TINI_SUBREAPER set since it is not PID 1 here, and dropped otherwise.
- env: the image's own ENV (the runtime stage of services/<member>/Dockerfile; PATH is this
  virtualenv's) and then the container's `env`, in order, nothing inherited from this machine.
  `valueFrom` is resolved to test values: FIELD_VALUES for `fieldRef`, the caller's secrets for
  `secretKeyRef` (an unknown reference fails).
- paths: every absolute in-container path in a literal env value or an argument is rewritten
  with PATHS, the ONE mapping below, and so is every volume mount (a mount PATHS does not know
  fails). Resolved `valueFrom` values are the test's own, already local.
- URLs: the in-cluster URL of a Service (`http://<release>-mlflow:5000`) becomes the URL of the
  local process that runs that Service's container; a Service URL left unmapped fails.
- network: 0.0.0.0 becomes 127.0.0.1 and each container port a free local port (env `*PORT`
  values and `--port` arguments equal to a containerPort); nothing may still say 0.0.0.0.
- cwd: an empty folder standing for the image's WORKDIR on the read-only root filesystem; it must
  still be empty when the process ends (it wrote nowhere but its mounts).

Stand-ins for what the cluster adds: a pod with `automountServiceAccountToken: true` (the data
API) gets KUBECONFIG naming an address where nothing listens instead of the service-account token
(the runner loads it at start and needs it only to create Jobs); KServe's storage initializer is a
copy of the `pvc://<claim>/<path>` folder into the pod's /mnt/models.

PYTEST_DONT_REWRITE: the test modules import this module before pytest loads it as their plugin
(`pytest_plugins`), too late for assertion rewriting; its asserts carry their own messages.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import yaml

from tests.chart.render import NAMESPACE, RELEASE, REPO_ROOT, Obj
from tests.chart.scenarios import DEFAULTS, cpu_quantity, objects, values

BIN = Path(sys.executable).parent

# In-container path -> folder under the sandbox root; `{pod}` is the pod's own folder name. THE
# mapping of every path a rendered container uses (mounts, env values, arguments).
PATHS: Mapping[str, str] = {
    "/data": "volumes/data",  # PVC <release>-data: datasets, prepared, runs (API rw, runs ro)
    "/artifacts": "volumes/models",  # PVC <release>-models: models/, results/ (runs rw, API ro)
    "/mlflow": "volumes/mlflow",  # PVC <release>-mlflow: MLflow's SQLite store and artifacts
    "/etc/prodcat/jobs": "volumes/job-templates",  # ConfigMap <release>-job-templates
    "/mnt/models": "pods/{pod}/mnt-models",  # KServe's storage initializer fills it per pod
    "/tmp": "pods/{pod}/tmp",  # the pod's own emptyDir
}

# fieldRef -> the value the kubelet would give (`{pod}`: the pod's folder name, which stands in
# for the name of the Job that owns it).
FIELD_VALUES: Mapping[str, str] = {
    "metadata.namespace": NAMESPACE,
    "metadata.labels['batch.kubernetes.io/job-name']": "{pod}",
    "status.podIP": "127.0.0.1",
    "spec.nodeName": "local",
}

# Image (repository's last segment) -> the Dockerfile whose runtime stage gives its ENV.
DOCKERFILES: Mapping[str, Path] = {
    f"prodcat-{m}": REPO_ROOT / "services" / m / "Dockerfile"
    for m in ("data", "train", "evaluate", "predict", "monitor")
}

START_TIMEOUT_S = 180.0
JOB_TIMEOUT_S = 300.0
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing answers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the render ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedContainer:
    where: str  # Deployment/prodcat-api, ConfigMap/prodcat-job-templates/train.yaml, …
    pod: Obj  # the dict that holds `containers` (pod spec; KServe's predictor spec)
    container: Obj

    @property
    def key(self) -> tuple[str, str]:
        return self.where, str(self.container["name"])


def _walk(node: Any, where: str) -> Iterator[RenderedContainer]:
    if isinstance(node, dict):
        for key in ("initContainers", "containers"):
            items = node.get(key)
            if isinstance(items, list) and items and isinstance(items[0], dict):
                for c in items:
                    yield RenderedContainer(where, node, c)
        for child in node.values():
            yield from _walk(child, where)
    elif isinstance(node, list):
        for child in node:
            yield from _walk(child, where)


def rendered_containers(objs: Sequence[Obj]) -> list[RenderedContainer]:
    """Every container the objects can start, wherever it sits: workloads, custom resources, and
    Kubernetes objects kept as YAML text in ConfigMaps (the run Job templates)."""
    found: list[RenderedContainer] = []
    for o in objs:
        where = f"{o['kind']}/{o['metadata']['name']}"
        if o["kind"] == "ConfigMap":
            for key, text in sorted((o.get("data") or {}).items()):
                with contextlib.suppress(yaml.YAMLError):
                    doc = yaml.safe_load(text)
                    if isinstance(doc, dict) and "kind" in doc:
                        found.extend(_walk(doc, f"{where}/{key}"))
            continue
        found.extend(_walk(o, where))
    return found


def find_container(objs: Sequence[Obj], where: str, name: str) -> RenderedContainer:
    matches = [c for c in rendered_containers(objs) if c.key == (where, name)]
    assert len(matches) == 1, f"expected one container {name} in {where}, found {len(matches)}"
    return matches[0]


def image_env(image: str) -> dict[str, str]:
    """The ENV of the image's runtime stage (its Dockerfile's last stage), ARG defaults applied;
    {} for an image that is not built here (MLflow's)."""
    repository = image.split("@")[0].rsplit(":", 1)[0]
    dockerfile = DOCKERFILES.get(repository.rsplit("/", 1)[-1])
    if dockerfile is None:
        return {}
    stage = dockerfile.read_text(encoding="utf-8").rsplit("\nFROM ", 1)[1]
    args: dict[str, str] = {}
    env: dict[str, str] = {}
    for line in stage.replace("\\\n", " ").splitlines():
        words = line.strip().split(None, 1)
        if len(words) != 2 or words[0] not in {"ARG", "ENV"}:
            continue
        if words[0] == "ARG":
            name, _, default = words[1].partition("=")
            args[name.strip()] = default.strip()
            continue
        for item in shlex.split(words[1]):
            key, _, raw = item.partition("=")
            env[key] = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m[1], args.get(m[1], "")), raw)
    return env


# -- the sandbox: paths, URLs, ports ----------------------------------------------------------


@dataclass
class Launch:
    """A container turned into what a local process needs."""

    where: str
    pod_name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log: Path
    ports: dict[int, int]  # containerPort -> local port
    named_ports: dict[str, int]  # port name -> local port
    probes: dict[str, str]  # startupProbe/livenessProbe/readinessProbe -> local URL
    readonly: list[Path]  # folders mounted read-only: the process must not change them

    def url(self, port: int | None = None) -> str:
        chosen = port if port is not None else next(iter(self.ports))
        return f"http://127.0.0.1:{self.ports[chosen]}"


class Sandbox:
    """The folders standing for the volumes, and the rewriting of one container at a time."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.services: dict[str, str] = {}  # in-cluster base URL -> local base URL
        self._claims: dict[str, Path] = {}  # PVC claim -> the folder standing for it

    def host_path(self, path: str, pod: str) -> Path:
        """The local folder/file of an absolute in-container path (longest PATHS prefix)."""
        for prefix in sorted(PATHS, key=len, reverse=True):
            if path == prefix or path.startswith(prefix + "/"):
                base = self.root / PATHS[prefix].format(pod=pod)
                rest = path[len(prefix) :].lstrip("/")
                return base / rest if rest else base
        raise AssertionError(
            f"{path} is not under any in-container path of tests/processes.py PATHS: add it "
            "there (and document what it stands for)"
        )

    def rewrite(self, value: str, pod: str) -> str:
        for cluster_url, local_url in self.services.items():
            value = value.replace(cluster_url, local_url)
        m = re.fullmatch(r"(?P<prefix>(?:--[\w-]+=)?(?:sqlite:///|file://)?)(?P<path>/.*)", value)
        if m:
            value = m["prefix"] + str(self.host_path(m["path"], pod))
        return "127.0.0.1" if value == "0.0.0.0" else value.replace("=0.0.0.0", "=127.0.0.1")

    def claim_folder(self, claim: str) -> Path:
        return self._claims[claim]

    def _mount_volumes(self, objs: Sequence[Obj], rc: RenderedContainer, pod: str) -> list[Path]:
        volumes = {v["name"]: v for v in rc.pod.get("volumes", [])}
        readonly: list[Path] = []
        for mount in rc.container.get("volumeMounts", []):
            folder = self.host_path(mount["mountPath"], pod)
            volume = volumes[mount["name"]]
            if "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]["claimName"]
                known = self._claims.setdefault(claim, folder)
                assert known == folder, (
                    f"PVC {claim} is {known} and {folder}: one volume, two paths"
                )
                folder.mkdir(parents=True, exist_ok=True)
                if mount.get("readOnly") or volume["persistentVolumeClaim"].get("readOnly"):
                    readonly.append(folder)
            elif "configMap" in volume:
                name = volume["configMap"]["name"]
                (cm,) = [
                    o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"] == name
                ]
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir(parents=True)
                for key, text in cm["data"].items():
                    (folder / key).write_text(text, encoding="utf-8")
                readonly.append(folder)
            elif "emptyDir" in volume:
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir(parents=True)
            else:
                raise AssertionError(f"{rc.where}: volume {mount['name']} has no local stand-in")
        return readonly

    def _env_value(
        self, env: Obj, rc: RenderedContainer, pod: str, secrets: Mapping[tuple[str, str], str]
    ) -> str:
        if "value" in env:
            return str(env["value"])
        source = env["valueFrom"]
        if "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            assert path in FIELD_VALUES, f"{rc.where}: no test value for fieldRef {path}"
            return FIELD_VALUES[path].format(pod=pod)
        if "resourceFieldRef" in source:  # the kubelet's value: whole CPUs, rounded up
            ref = source["resourceFieldRef"]
            kind, resource = ref["resource"].split(".")
            assert resource == "cpu", f"{rc.where}: {ref}"
            assert str(ref.get("divisor", "1")) == "1", f"{rc.where}: {ref}"
            return str(math.ceil(cpu_quantity(rc.container["resources"][kind]["cpu"])))
        if "secretKeyRef" in source:
            ref = (source["secretKeyRef"]["name"], source["secretKeyRef"]["key"])
            assert ref in secrets, f"{rc.where}: no test value for Secret {ref[0]} key {ref[1]}"
            return secrets[ref]
        raise AssertionError(f"{rc.where}: env {env['name']}: no local stand-in for {source}")

    def launch(
        self,
        objs: Sequence[Obj],
        rc: RenderedContainer,
        pod: str,
        *,
        secrets: Mapping[tuple[str, str], str] | None = None,
        argv: Sequence[str] | None = None,
    ) -> Launch:
        """The local process of container `rc` in pod folder `pod`. `argv` replaces command +
        args (what `kubectl exec` runs in that container)."""
        c = rc.container
        assert c.get("command"), f"{rc.where}: no command; the chart always sets it"
        readonly = self._mount_volumes(objs, rc, pod)
        ports = {int(p["containerPort"]): free_port() for p in c.get("ports", [])}
        named = {
            p["name"]: ports[int(p["containerPort"])] for p in c.get("ports", []) if "name" in p
        }

        def local_port(value: str) -> str:
            return str(ports[int(value)]) if value.isdigit() and int(value) in ports else value

        env = {k: v for k, v in image_env(str(c["image"])).items() if k != "PATH"}
        for item in c.get("env", []):
            # Literal values are in-container text; resolved references are local test values.
            value = self._env_value(item, rc, pod, secrets or {})
            value = self.rewrite(value, pod) if "value" in item else value
            env[item["name"]] = local_port(value) if item["name"].endswith("PORT") else value
        tmp = self.host_path("/tmp", pod)
        tmp.mkdir(parents=True, exist_ok=True)
        env |= {
            "PATH": f"{BIN}{os.pathsep}/usr/local/bin{os.pathsep}/usr/bin{os.pathsep}/bin",
            "LANG": "C.UTF-8",
            "TMPDIR": str(tmp),  # the pod's /tmp is where tempfile writes in the container
        }
        if rc.pod.get("automountServiceAccountToken"):
            env["KUBECONFIG"] = str(self._kubeconfig())

        words = [self.rewrite(w, pod) for w in (argv or [*c["command"], *c.get("args", [])])]
        for i, word in enumerate(words):
            if word.startswith("--port="):
                words[i] = "--port=" + local_port(word.removeprefix("--port="))
            elif i and words[i - 1] == "--port":
                words[i] = local_port(word)
        words = self._executable(words, env)

        for text in [*words, *env.values()]:
            assert "0.0.0.0" not in text, f"{rc.where}: still binds 0.0.0.0: {text}"
            for service in self._cluster_service_urls(objs):
                assert service not in text, f"{rc.where}: unmapped in-cluster URL in {text}"

        probes: dict[str, str] = {}
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            get = c.get(probe, {}).get("httpGet")
            if get:
                port = get["port"]
                local = named[port] if isinstance(port, str) else ports[int(port)]
                probes[probe] = f"http://127.0.0.1:{local}{get['path']}"
        cwd = self.root / "pods" / pod / "workdir"
        shutil.rmtree(cwd, ignore_errors=True)
        cwd.mkdir(parents=True)
        return Launch(
            rc.where,
            pod,
            words,
            env,
            cwd,
            self.root / "pods" / pod / "process.log",
            ports,
            named,
            probes,
            readonly,
        )

    @staticmethod
    def _cluster_service_urls(objs: Sequence[Obj]) -> list[str]:
        names = [o["metadata"]["name"] for o in objs if o["kind"] == "Service"]
        return [f"://{n}:" for n in names] + [f"://{n}.{NAMESPACE}" for n in names]

    @staticmethod
    def _executable(words: list[str], env: dict[str, str]) -> list[str]:
        if words[0] == "tini":
            assert words[1] == "--", words
            tini = shutil.which("tini")
            if tini is None:
                return Sandbox._executable(words[2:], env)
            env["TINI_SUBREAPER"] = "1"  # it is not PID 1 here: reap as a subreaper instead
            return [tini, "--", *Sandbox._executable(words[2:], env)]
        local = BIN / words[0]
        assert local.is_file(), f"no local executable for the container command {words[0]}"
        return [str(local), *words[1:]]

    def _kubeconfig(self) -> Path:
        path = self.root / "kubeconfig"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "none", "cluster": {"server": UNREACHABLE.replace("http", "https")}}
            ],
            "users": [{"name": "none", "user": {"token": "not-a-token"}}],
            "contexts": [
                {
                    "name": "none",
                    "context": {"cluster": "none", "user": "none", "namespace": NAMESPACE},
                }
            ],
            "current-context": "none",
        }
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return path

    def storage_initializer(self, launch: Launch, storage_uri: str) -> None:
        """KServe's storage initializer for pvc://<claim>/<path>: that folder, copied into the
        pod's /mnt/models."""
        m = re.fullmatch(r"pvc://(?P<claim>[^/]+)/(?P<path>.+)", storage_uri)
        assert m, f"only pvc:// storage URIs have a local stand-in, not {storage_uri}"
        source = self.claim_folder(m["claim"]) / m["path"]
        assert source.is_dir(), f"{storage_uri}: {source} does not exist on the claim"
        target = self.host_path("/mnt/models", launch.pod_name)
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target)


# -- processes --------------------------------------------------------------------------------


def snapshot(folders: Sequence[Path]) -> dict[str, tuple[int, int]]:
    """Every file under the folders: path -> (size, mtime_ns)."""
    out: dict[str, tuple[int, int]] = {}
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                st = path.stat()
                out[str(path)] = (st.st_size, st.st_mtime_ns)
    return out


def assert_wrote_only_its_mounts(launch: Launch, before: Mapping[str, tuple[int, int]]) -> None:
    left = sorted(p.name for p in launch.cwd.iterdir())
    assert left == [], f"{launch.where} wrote {left} into its working directory (read-only root)"
    after = snapshot(launch.readonly)
    changed = sorted(set(before.items()) ^ set(after.items()))
    assert changed == [], f"{launch.where} changed read-only mounts: {changed[:5]}"


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class JobResult:
    launch: Launch
    returncode: int
    seconds: float

    @property
    def output(self) -> str:
        return self.launch.log.read_text(encoding="utf-8", errors="replace")


def run_to_completion(launch: Launch, timeout_s: float = JOB_TIMEOUT_S) -> JobResult:
    """A run-to-completion container (a Job's pod, `kubectl exec`): the process, its exit."""
    before = snapshot(launch.readonly)
    started = time.monotonic()
    with launch.log.open("ab") as log:
        done = subprocess.run(
            launch.argv, cwd=launch.cwd, env=launch.env, stdout=log, stderr=subprocess.STDOUT,
            timeout=timeout_s, check=False,
        )  # fmt: skip
    result = JobResult(launch, done.returncode, time.monotonic() - started)
    assert result.returncode == 0, (
        f"{launch.where}: {shlex.join(launch.argv)} exited {done.returncode}\n{_tail(launch.log)}"
    )
    assert_wrote_only_its_mounts(launch, before)
    return result


@dataclass
class Server:
    """A long-running container as a process (its own session, so its workers stop with it)."""

    launch: Launch
    process: subprocess.Popen[bytes] | None = None
    before: dict[str, tuple[int, int]] = field(default_factory=dict)
    started_in_s: float = 0.0
    _spawned_at: float = 0.0

    @property
    def url(self) -> str:
        return self.launch.url()

    def start(self) -> None:
        self.spawn()
        self.wait_for_probes()

    def spawn(self) -> None:
        """Starts the process; `wait_for_probes` waits for it to become ready."""
        self.before = snapshot(self.launch.readonly)
        self._spawned_at = time.monotonic()
        with self.launch.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.launch.argv, cwd=self.launch.cwd, env=self.launch.env, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def wait_for_probes(self) -> None:
        """The kubelet's view: the startup probe passes, then liveness and readiness."""
        deadline = self._spawned_at + START_TIMEOUT_S
        order = [
            p
            for p in ("startupProbe", "livenessProbe", "readinessProbe")
            if p in self.launch.probes
        ]
        assert order, f"{self.launch.where}: no HTTP probe to wait for"
        with httpx.Client(timeout=5, trust_env=False) as client:
            for probe in order:
                url = self.launch.probes[probe]
                status: int | str = "no answer"
                while True:
                    assert self.process is not None
                    if self.process.poll() is not None:
                        raise AssertionError(
                            f"{self.launch.where} exited {self.process.returncode} before its "
                            f"{probe} {url} passed\n{_tail(self.launch.log)}"
                        )
                    try:
                        status = client.get(url).status_code
                    except httpx.HTTPError as e:
                        status = type(e).__name__
                    if status == 200:
                        break
                    if time.monotonic() > deadline:
                        raise AssertionError(
                            f"{self.launch.where}: {probe} {url} answered {status} after "
                            f"{START_TIMEOUT_S:.0f}s\n{_tail(self.launch.log)}"
                        )
                    time.sleep(0.25)
        self.started_in_s = time.monotonic() - self._spawned_at
        self.assert_loopback_only()

    def assert_loopback_only(self) -> None:
        """Every socket the process tree listens on is on 127.0.0.1, nothing on 0.0.0.0/::."""
        assert self.process is not None
        root = psutil.Process(self.process.pid)
        listening = {
            (c.laddr.ip, c.laddr.port)
            for proc in [root, *root.children(recursive=True)]
            for c in proc.connections(kind="inet")  # psutil 5.9 (constraints)
            if c.status == psutil.CONN_LISTEN
        }
        assert listening, f"{self.launch.where} listens on nothing"
        others = {addr for addr in listening if addr[0] != "127.0.0.1"}
        assert others == set(), f"{self.launch.where} listens beyond 127.0.0.1: {others}"

    def check_mounts(self) -> None:
        assert_wrote_only_its_mounts(self.launch, self.before)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)  # the group this Popen started, by its id
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


# -- the platform: MLflow, data, one train and one evaluate run, shared by the session ---------


class Platform:
    """The chart's defaults, run locally: its MLflow container (the tracking server every other
    container talks to through the rewritten in-cluster URL), data imported with the data API
    container's environment (what `kubectl exec deploy/prodcat-api -- prodcat data …` does in
    k8s/README.md), then the train and evaluate Job templates, each once."""

    ROWS = 800

    def __init__(self, root: Path) -> None:
        self.sandbox = Sandbox(root)
        self.objs = objects(DEFAULTS)
        self.values = values(DEFAULTS)
        self.mlflow: Server | None = None
        self._jobs: dict[str, JobResult] = {}
        self._servers: list[Server] = []
        self._data_ready = False

    @property
    def mlflow_url(self) -> str:
        return self.start_mlflow().url

    def start_mlflow(self) -> Server:
        """The MLflow container, ready. While it starts (half a minute on two cores), the data is
        imported: that needs its URL, not its answers."""
        if self.mlflow is None:
            rc = find_container(self.objs, f"Deployment/{RELEASE}-mlflow", "mlflow")
            server = Server(self.sandbox.launch(self.objs, rc, "mlflow"))
            self._servers.append(server)
            server.spawn()
            port = int(self.values["mlflow"]["port"])
            self.sandbox.services[f"http://{RELEASE}-mlflow:{port}"] = server.url
            self.prepare_data()
            server.wait_for_probes()
            self.mlflow = server
        return self.mlflow

    def exec_in_api(self, *argv: str) -> JobResult:
        """`kubectl exec deploy/<release>-api -- <argv>`: the API container's env and mounts."""
        rc = find_container(self.objs, f"Deployment/{RELEASE}-api", "api")
        return run_to_completion(self.sandbox.launch(self.objs, rc, "api-exec", argv=argv))

    def prepare_data(self) -> None:
        if self._data_ready:
            return
        assert self.sandbox.services, "the MLflow container's URL first: the API env names it"
        raw = "/data/raw/synthetic"
        self.exec_in_api("prodcat", "data", "generate", "--out", raw, "--rows", str(self.ROWS))
        self.exec_in_api(
            "prodcat", "data", "import",
            "--x", f"{raw}/X_train_update.csv", "--y", f"{raw}/Y_train_CVw08PX.csv",
        )  # fmt: skip
        self.exec_in_api("prodcat", "data", "preprocess")
        self._data_ready = True

    def run_job(self, objs: Sequence[Obj], where: str, pod: str) -> JobResult:
        if pod not in self._jobs:
            self.start_mlflow()
            rc = find_container(objs, where, "run")
            self._jobs[pod] = run_to_completion(self.sandbox.launch(objs, rc, pod))
        return self._jobs[pod]

    def run_steps(self, objs: Sequence[Obj], where: str, pod: str) -> list[JobResult]:
        """A Job of several steps (the retrain run): its init containers in order, then `run`,
        each to completion, as the kubelet runs them in one pod."""
        self.start_mlflow()
        steps = [c for c in rendered_containers(objs) if c.where == where]
        ordered = [c for c in steps if c.container["name"] != "run"]
        ordered += [c for c in steps if c.container["name"] == "run"]
        return [
            run_to_completion(self.sandbox.launch(objs, rc, f"{pod}-{rc.container['name']}"))
            for rc in ordered
        ]

    def train(self) -> JobResult:
        return self.run_job(self.objs, f"ConfigMap/{RELEASE}-job-templates/train.yaml", "train")

    def evaluate(self) -> JobResult:
        self.train()
        return self.run_job(
            self.objs, f"ConfigMap/{RELEASE}-job-templates/evaluate.yaml", "evaluate"
        )

    def champion(self) -> dict[str, Any]:
        """The registry's champion version (the evaluate run promotes the first model)."""
        self.evaluate()
        response = httpx.get(
            f"{self.mlflow_url}/api/2.0/mlflow/registered-models/alias",
            params={"name": "prodcat", "alias": "champion"},
            timeout=10,
            trust_env=False,
        )
        assert response.status_code == 200, response.text
        version: dict[str, Any] = response.json()["model_version"]
        return version

    def models(self) -> list[Path]:
        folder = self.sandbox.host_path("/artifacts/models", "-")
        return sorted(p for p in folder.glob("m-*") if (p / "metadata.json").is_file())

    @contextlib.contextmanager
    def serve(
        self,
        objs: Sequence[Obj],
        where: str,
        name: str,
        pod: str,
        *,
        secrets: Mapping[tuple[str, str], str] | None = None,
    ) -> Iterator[Server]:
        """A long-running container of `objs`, started after the runs (so that a run's read-only
        view of a volume is never checked while a server writes to it), stopped at the end."""
        self.champion()
        rc = find_container(objs, where, name)
        launch = self.sandbox.launch(objs, rc, pod, secrets=secrets)
        storage = {e["name"]: e.get("value") for e in rc.container.get("env", [])}.get(
            "STORAGE_URI"
        )
        if storage:
            self.sandbox.storage_initializer(launch, str(storage))
        server = Server(launch)
        self._servers.append(server)
        try:
            server.start()
            yield server
        finally:
            server.stop()

    def stop(self) -> None:
        for server in reversed(self._servers):
            server.stop()


@pytest.fixture(scope="session")
def chart_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    platform = Platform(tmp_path_factory.mktemp("chart-processes"))
    try:
        yield platform
    finally:
        platform.stop()


def classify(url: str, *listings: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/products:classify", json=list(listings), timeout=30, trust_env=False
    )


def predictions(url: str) -> dict[str, Any]:
    """One V1 prediction; the answer as JSON."""
    body = {"instances": [{"designation": "Lot de 3 coussins", "description": "Housse en coton"}]}
    response = httpx.post(
        f"{url}/v1/models/prodcat:predict", json=body, timeout=30, trust_env=False
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True)
