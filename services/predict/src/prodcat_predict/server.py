"""The model server: kserve's ModelServer and REST server, adapted where kserve 0.21 falls short.

- Host: kserve builds its uvicorn config with host "0.0.0.0" and gRPC on "[::]", hard-coded.
  `PredictorRESTServer` sets `config.host` after kserve's constructor (uvicorn reads it when it
  binds, and the multi-worker parent binds the one shared socket from the same config), and
  `BoundGRPCServer` binds gRPC to the same host. The default is 127.0.0.1; the container sets
  PREDICT_HOST=0.0.0.0.
- Workers: with workers > 1 kserve spawns processes that receive the REST server object by
  pickling and build the app there, so every addition lives in that object's methods
  (`_add_middlewares`, `_register_endpoints`, `_add_exception_handlers`, `run`) and happens in each
  worker. `run` also restores logging, thread limits and loads the model in the worker.
- Metrics: kserve's `/metrics` shows only the answering worker; ours (registered first, so it
  answers) merges all of them in multiprocess mode (see metrics.py).
- The V2 model-repository load/unload routes are not served (404), nor advertised: unauthenticated,
  they let any caller unload the only model. kserve's other V2 routes are replaced by ours
  (routes/open_inference.py: binary extension validated, versions, metadata).
- Errors: every answer is `{"error": "..."}`; a caller's mistake is logged at info, not as an
  error with a traceback; gRPC gets a status that matches the HTTP one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import shutil
import signal
import tempfile
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from socket import socket
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from grpc import StatusCode, aio
from kserve import ModelServer
from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
from kserve.errors import InvalidInput, ModelNotFound, ModelNotReady
from kserve.model import BaseKServeModel
from kserve.protocol.dataplane import DataPlane
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc
from kserve.protocol.grpc.interceptors import ExceptionToStatusInterceptor, LoggingInterceptor
from kserve.protocol.grpc.server import GRPCServer
from kserve.protocol.grpc.servicer import InferenceServicer
from kserve.protocol.model_repository_extension import ModelRepositoryExtension
from kserve.protocol.rest.multiprocess.server import RESTServerMultiProcess
from kserve.protocol.rest.server import RESTServer

from prodcat_core.errors import ProdcatError, UnavailableError
from prodcat_core.logging import JsonFormatter, configure_logging
from prodcat_core.offline_docs import add_offline_docs
from prodcat_core.slow_clients import BodyReadTimeout, guarded_http
from prodcat_predict import __doc__ as package_doc
from prodcat_predict.admission import Admission
from prodcat_predict.config import PredictSettings
from prodcat_predict.errors import error_response, install_error_handlers
from prodcat_predict.limits import RequestLimits
from prodcat_predict.metrics import render_metrics
from prodcat_predict.model import ProdcatModel
from prodcat_predict.routes.open_inference import extra_schemas, open_inference_router
from prodcat_predict.routes.products import products_router
from prodcat_predict.routes.responses import without_validation_errors
from prodcat_predict.routes.v1 import v1_router
from prodcat_predict.threads import apply_thread_limits, cpus_per_worker

logger = logging.getLogger(__name__)

# kserve's model-repository routes (load/unload), refused and left out of the OpenAPI.
BLOCKED_PREFIX = "/v2/repository/"
LIBRARY_LOGGERS = ("kserve", "kserve.trace", "uvicorn", "uvicorn.error", "uvicorn.access")


@dataclass(frozen=True)
class LogSetup:
    """The CLI's logging choice, carried into worker processes (which start unconfigured)."""

    level: int
    json: bool
    access_log: bool

    @classmethod
    def current(cls, access_log: bool) -> LogSetup:
        root = logging.getLogger()
        is_json = any(isinstance(h.formatter, JsonFormatter) for h in root.handlers)
        return cls(root.level or logging.INFO, is_json, access_log)

    def apply(self) -> None:
        configure_logging(logging.getLevelName(self.level), "json" if self.json else "text")
        self.adopt_library_loggers()

    def adopt_library_loggers(self) -> None:
        """kserve and uvicorn log through the root handler, in our format, not their own."""
        for name in LIBRARY_LOGGERS:
            lib = logging.getLogger(name)
            lib.handlers.clear()
            lib.propagate = True
        # kserve.trace writes one timing line per request; metrics carry that.
        logging.getLogger("kserve.trace").setLevel(max(logging.WARNING, self.level))
        # uvicorn logs access lines when "uvicorn.access" has a handler, whatever its config says.
        access = logging.getLogger("uvicorn.access")
        access.propagate = self.access_log
        # kserve 0.21 answers with ORJSONResponse, which FastAPI deprecates once per call site.
        warnings.filterwarnings(
            "ignore", message="ORJSONResponse is deprecated", category=UserWarning
        )


def _client_error(status: int) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handler(_: Request, exc: Exception) -> Response:
        logger.info("answered %d: %s", status, exc)
        return error_response(status, str(exc))

    return handler


class PredictorRESTServer(RESTServer):  # type: ignore[misc]  # kserve is untyped
    def __init__(
        self,
        dataplane: DataPlane,
        model_repository_extension: ModelRepositoryExtension,
        settings: PredictSettings,
        *,
        cpus: int,
        log_setup: LogSetup,
    ) -> None:
        super().__init__(
            FASTAPI_APP_IMPORT_STRING,
            dataplane,
            model_repository_extension,
            settings.http_port,
            workers=settings.workers,
            grace_period=settings.grace_period_s,
            event_loop="auto",
            timeout_keep_alive=65,
        )
        self.config.host = settings.host
        # No `server: uvicorn` header; a deadline for request headers (slow clients).
        self.config.server_header = False
        self.config.http = guarded_http(settings.header_timeout_s)
        self.settings = settings
        self.cpus = cpus
        self.log_setup = log_setup

    def served_model(self) -> ProdcatModel:
        model = self.dataplane.model_registry.get_model(self.settings.model_name)
        if not isinstance(model, ProdcatModel) or not model.ready:
            raise UnavailableError(f"model {self.settings.model_name} is not ready")
        return model

    def current_admission(self) -> Admission | None:
        model = self.dataplane.model_registry.get_model(self.settings.model_name)
        return model.admission if isinstance(model, ProdcatModel) else None

    async def metrics_endpoint(self, request: Request) -> Response:
        body, content_type = render_metrics(
            request.headers.get("accept"), self.settings.metrics_dir
        )
        return Response(content=body, headers={"content-type": content_type})

    def _add_middlewares(self, app: FastAPI) -> None:
        # Not kserve's: its TimingMiddleware only writes "kserve.trace" log lines (our per-phase
        # histograms say more), yet costs two getrusage calls and a second route match on every
        # request, about a third of the event loop's time under load (py-spy, transformer, c=8).
        app.add_middleware(  # the outermost layer but for the body's read timeout
            RequestLimits,
            max_body_bytes=self.settings.max_body_bytes,
            blocked_prefixes=(BLOCKED_PREFIX,),
            admission=self.current_admission,
        )
        app.add_middleware(BodyReadTimeout, timeout_s=self.settings.body_timeout_s)

    def _register_endpoints(self, app: FastAPI) -> None:
        # Routes match in order: this /metrics comes before kserve's, which then never answers.
        app.add_api_route(
            "/metrics",
            self.metrics_endpoint,
            methods=["GET"],
            response_class=PlainTextResponse,
            summary="Prometheus metrics (text exposition format, or OpenMetrics on request)",
        )
        # kserve's own registration, less its V2 routes (ours, see routes/open_inference.py), V1's
        # :explain (no explainer here), its /metrics (which documents the text format as JSON) and
        # its OpenAI/time-series routes.
        app.add_api_route("/", self.dataplane.live, methods=["GET"], tags=["health"])
        app.include_router(v1_router(self.dataplane, self.model_repository_extension))
        app.include_router(open_inference_router(self.served_model, self.dataplane))
        app.include_router(products_router(self.served_model, self.settings))
        openapi = app.openapi

        def documented_openapi() -> dict[str, Any]:
            schema = without_validation_errors(openapi())
            schema.setdefault("components", {}).setdefault("schemas", {}).update(extra_schemas())
            return schema

        app.openapi = documented_openapi  # type: ignore[method-assign]
        app.title = "prodcat predictor"
        app.description = (package_doc or "").strip() + (
            " Protocols: KServe V1, Open Inference Protocol V2, and the product route."
        )
        if self.settings.docs:  # Swagger UI from assets in the image: no CDN
            add_offline_docs(app, "prodcat predictor", redoc=False)

    def _add_exception_handlers(self, app: FastAPI) -> None:
        super()._add_exception_handlers(app)
        install_error_handlers(app)
        # kserve logs a caller's mistake as an error with its traceback; these are not ours.
        for exc_type, status in ((InvalidInput, 400), (ModelNotFound, 404), (ModelNotReady, 503)):
            app.add_exception_handler(exc_type, _client_error(status))

    def run(self, sockets: list[socket] | None = None) -> None:
        """A worker process's entry: logging, threads and model first, then serve."""
        self.log_setup.apply()
        apply_thread_limits(self.cpus)
        models = list(self.dataplane.model_registry.get_models().values())
        for model in models:
            if not model.ready:
                model.load()
        # uvicorn restores the SIGTERM handler it found and raises SIGTERM again once it has
        # shut down; with the default handler the worker would die before writing its log.
        signal.signal(signal.SIGTERM, lambda *_: None)
        try:
            super().run(sockets)
        finally:
            # A worker process ends through multiprocessing, which skips atexit: write the
            # inference log's buffer here, once the server has stopped taking requests.
            for model in models:
                if isinstance(model, ProdcatModel):
                    model.close_inference_log()


# gRPC status of each HTTP status our errors carry.
GRPC_STATUS = {
    404: StatusCode.NOT_FOUND,
    413: StatusCode.RESOURCE_EXHAUSTED,
    503: StatusCode.UNAVAILABLE,
    504: StatusCode.DEADLINE_EXCEEDED,
}


class ProdcatExceptionToStatus(ExceptionToStatusInterceptor):  # type: ignore[misc]
    """kserve's mapping of exceptions to gRPC statuses, plus ours (else all would be INTERNAL)."""

    async def handle_exception(
        self, ex: Exception, request_or_iterator: Any, context: Any, method_name: str
    ) -> None:
        if isinstance(ex, ProdcatError):
            default = StatusCode.INVALID_ARGUMENT if ex.status_code < 500 else StatusCode.INTERNAL
            await context.abort(GRPC_STATUS.get(ex.status_code, default), ex.message)
            return
        await super().handle_exception(ex, request_or_iterator, context, method_name)


class BoundGRPCServer(GRPCServer):  # type: ignore[misc]  # kserve is untyped
    """kserve's gRPC server, listening on the configured host instead of every interface."""

    def __init__(self, host: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._host = host

    async def start(self, max_workers: int) -> None:
        self._server = aio.server(
            concurrent.futures.ThreadPoolExecutor(max_workers=max_workers),
            interceptors=(LoggingInterceptor(), ProdcatExceptionToStatus()),
            options=[
                ("grpc.max_send_message_length", self._kwargs.get("grpc_max_send_message_length")),
                (
                    "grpc.max_receive_message_length",
                    self._kwargs.get("grpc_max_receive_message_length"),
                ),
            ],
        )
        grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
            InferenceServicer(self._data_plane, self._model_repository_extension), self._server
        )
        host = f"[{self._host}]" if ":" in self._host else self._host
        self._server.add_insecure_port(f"{host}:{self._port}")
        logger.info("gRPC server on %s:%d", host, self._port)
        await self._server.start()
        await self._server.wait_for_termination()


class PredictorServer(ModelServer):  # type: ignore[misc]  # kserve is untyped
    def __init__(self, settings: PredictSettings, *, cpus: int, log_setup: LogSetup) -> None:
        super().__init__(
            http_port=settings.http_port,
            grpc_port=settings.grpc_port,
            workers=settings.workers,
            max_threads=4,
            max_asyncio_workers=None,
            enable_grpc=settings.grpc_enabled,
            enable_docs_url=False,
            enable_latency_logging=False,
            access_log_format=None,
            event_loop="auto",
            timeout_keep_alive=65,
            grace_period=settings.grace_period_s,
            ssl_certfile=None,
            ssl_keyfile=None,
        )
        self.settings = settings
        self.cpus = cpus
        self.log_setup = log_setup

    def start(self, models: list[BaseKServeModel]) -> None:
        """kserve's `start`, with our REST server (host, routes, workers) and gRPC binding."""
        self._register_and_check_atleast_one_model_is_ready(models)
        rest = PredictorRESTServer(
            self.dataplane,
            self.model_repository_extension,
            self.settings,
            cpus=self.cpus,
            log_setup=self.log_setup,
        )
        if self.workers > 1:
            multi = RESTServerMultiProcess(
                FASTAPI_APP_IMPORT_STRING,
                self.dataplane,
                self.model_repository_extension,
                self.http_port,
                workers=self.workers,
                grace_period=self.grace_period,
            )
            multi._rest_server = rest  # the workers run our server object
            self._rest_multiprocess_server = multi
            self.servers.append(multi.start())
        else:
            self._rest_server = rest
            self.servers.append(rest.start())
        if self.enable_grpc:
            self._grpc_server = BoundGRPCServer(
                self.settings.host,
                self.grpc_port,
                self.dataplane,
                self.model_repository_extension,
                kwargs={
                    "grpc_max_send_message_length": self.settings.max_body_bytes,
                    "grpc_max_receive_message_length": self.settings.max_body_bytes,
                },
                grace_period=self.grace_period,
            )
            self.servers.append(self._grpc_server.start(self.max_threads))
        self.register_signal_handler()
        logger.info(
            "serving %s on http://%s:%d with %d worker(s)",
            self.settings.model_name, self.settings.host, self.http_port, self.workers,
        )  # fmt: skip
        # kserve asks uvicorn for the "auto" loop (uvloop) yet runs one worker on asyncio's own;
        # the processes of a multi-worker server get uvloop from uvicorn. Both get it here: the
        # event loop's CPU per request fell from 0.78-0.90 to 0.69-0.72 ms (2 cores, c=8).
        with asyncio.Runner(loop_factory=rest.config.get_loop_factory()) as runner:
            runner.run(self._serve_all())

    async def _serve_all(self) -> None:
        # kserve configures the loop of `get_event_loop()`, not the one `asyncio.run` makes.
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(self.default_exception_handler)
        workers = self.max_asyncio_workers or min(32, (os.cpu_count() or 1) + 4)
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=workers))
        await asyncio.gather(*self.servers)


def prepare_metrics_dir(settings: PredictSettings) -> tuple[PredictSettings, Path | None]:
    """Multiprocess metrics need one folder shared by the workers, empty at start, named in
    PROMETHEUS_MULTIPROC_DIR before a worker imports prometheus_client. Returns the settings
    that name it, and the folder when it is a temporary one made here (removed at exit)."""
    folder, made = settings.metrics_dir, None
    if folder is None:
        if settings.workers == 1:
            return settings, None
        folder = made = Path(tempfile.mkdtemp(prefix="prodcat-metrics-"))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    return settings.model_copy(update={"metrics_dir": folder}), made


def serve(settings: PredictSettings) -> None:
    """Loads the model (ready after its warm-up) and serves it until SIGTERM/SIGINT."""
    settings, made = prepare_metrics_dir(settings)
    cpus = cpus_per_worker(settings.workers)
    model = ProdcatModel(settings, cpus=cpus)
    try:
        apply_thread_limits(cpus)
        log_setup = LogSetup.current(settings.access_log)
        model.load()
        server = PredictorServer(settings, cpus=cpus, log_setup=log_setup)
        log_setup.adopt_library_loggers()  # after kserve's constructor, which configures its own
        server.start([model])
    finally:
        model.close_inference_log()
        for temporary in (made, model.downloaded_to):
            if temporary is not None:
                shutil.rmtree(temporary, ignore_errors=True)
